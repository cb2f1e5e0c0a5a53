//! TOTP against every RFC 6238 Appendix B vector, plus replay, skew, formats, the enrolment URI
//! and the terminal QR code.

use qrcode::{Color, QrCode};
use tribune_approvals::totp::{
    Algorithm, Digits, Enrollment, TotpParams, TotpSecret, code_at, otpauth_uri, qr_terminal, step_at,
    verify, verify_for,
};
use tribune_approvals::{Error, MfaEvidence};
use tribune_bundle::Tier;

use crate::{T0, human, new_request, open};

const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

/// RFC 6238 Appendix B: (unix time, SHA-1, SHA-256, SHA-512), 8 digits.
const RFC6238: &[(u64, &str, &str, &str)] = &[
    (59, "94287082", "46119246", "90693936"),
    (1_111_111_109, "07081804", "68084774", "25091201"),
    (1_111_111_111, "14050471", "67062674", "99943326"),
    (1_234_567_890, "89005924", "91819424", "93441116"),
    (2_000_000_000, "69279037", "90698825", "38618901"),
    (20_000_000_000, "65353130", "77737706", "47863826"),
];

fn params(algorithm: Algorithm, digits: Digits) -> TotpParams {
    TotpParams { algorithm, digits }
}

fn each_vector(mut f: impl FnMut(&TotpSecret, TotpParams, u64, &str)) {
    for (t, sha1, sha256, sha512) in RFC6238 {
        for (seed, alg, code) in [
            (SEED_SHA1, Algorithm::Sha1, sha1),
            (SEED_SHA256, Algorithm::Sha256, sha256),
            (SEED_SHA512, Algorithm::Sha512, sha512),
        ] {
            let secret = TotpSecret::from_bytes(seed).unwrap();
            f(&secret, params(alg, Digits::Eight), *t, code);
        }
    }
}

#[test]
fn codes_match_every_rfc6238_vector() {
    let mut n = 0;
    each_vector(|secret, p, t, code| {
        assert_eq!(code_at(secret, p, t).unwrap(), code, "{p:?} at {t}");
        n += 1;
    });
    assert_eq!(n, 18);
}

#[test]
fn every_rfc6238_vector_verifies_at_its_time_with_its_step() {
    each_vector(|secret, p, t, code| {
        let now_ms = i64::try_from(t).unwrap() * 1000;
        assert_eq!(verify(secret, p, code, now_ms, None), Ok(t / 30), "{p:?} at {t}");
        // One step late is skew; two is not.
        assert_eq!(verify(secret, p, code, now_ms + 30_000, None), Ok(t / 30));
        assert_eq!(
            verify(secret, p, code, now_ms + 60_000, None),
            Err(Error::TotpWrongCode)
        );
    });
}

#[test]
fn six_digit_codes_are_the_low_digits() {
    let secret = TotpSecret::from_bytes(SEED_SHA1).unwrap();
    assert_eq!(code_at(&secret, TotpParams::default(), 59).unwrap(), "287082");
    assert_eq!(
        verify(&secret, TotpParams::default(), "287 082", 59_000, None),
        Ok(1)
    );
}

#[test]
fn a_code_is_accepted_once() {
    let secret = TotpSecret::from_bytes(SEED_SHA1).unwrap();
    let p = TotpParams::default();
    let now = T0 + 7_000;
    let code = code_at(&secret, p, u64::try_from(now / 1000).unwrap()).unwrap();
    let step = verify(&secret, p, &code, now, None).unwrap();
    assert_eq!(step, step_at(now).unwrap());
    assert_eq!(
        verify(&secret, p, &code, now + 1_000, Some(step)),
        Err(Error::TotpReplay {
            step,
            last_used_step: step
        })
    );
    // The next step's code is fine; after it, the earlier (still in-window) code is not.
    let next = code_at(&secret, p, u64::try_from(now / 1000 + 30).unwrap()).unwrap();
    assert_eq!(verify(&secret, p, &next, now + 30_000, Some(step)), Ok(step + 1));
    assert!(matches!(
        verify(&secret, p, &code, now + 30_000, Some(step + 1)),
        Err(Error::TotpReplay { .. })
    ));
}

#[test]
fn skew_is_one_step_each_way() {
    let secret = TotpSecret::from_bytes(SEED_SHA256).unwrap();
    let p = params(Algorithm::Sha256, Digits::Six);
    let t = u64::try_from(T0 / 1000).unwrap() + 45; // inside step s = T0/30000 + 1
    let code = code_at(&secret, p, t).unwrap();
    let at = |secs: u64| verify(&secret, p, &code, i64::try_from(secs).unwrap() * 1000, None);
    let s = t / 30;
    assert_eq!(at(t - 30), Ok(s), "a fast phone: the code of the next step");
    assert_eq!(at(t + 30), Ok(s), "a slow phone: the code of the previous step");
    assert_eq!(at(t - 60), Err(Error::TotpWrongCode));
    assert_eq!(at(t + 60), Err(Error::TotpWrongCode));
}

#[test]
fn malformed_codes_and_times_are_refused() {
    let secret = TotpSecret::from_bytes(SEED_SHA1).unwrap();
    let p = TotpParams::default();
    for bad in ["", "12345", "1234567", "12a456", "+12345", "１２３４５６"] {
        assert_eq!(
            verify(&secret, p, bad, T0, None),
            Err(Error::TotpMalformedCode { digits: 6 }),
            "{bad}"
        );
    }
    assert_eq!(
        verify(&secret, p, "123456", -1, None),
        Err(Error::TimeBeforeEpoch { now_ms: -1 })
    );
}

#[test]
fn secrets_are_base32_and_at_least_128_bits() {
    let s = TotpSecret::from_bytes(SEED_SHA1).unwrap();
    assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    let long = TotpSecret::from_bytes(SEED_SHA256).unwrap();
    assert_eq!(
        long.to_base32(),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
    );
    for text in [
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA====",
        "gezd gnbv gy3t qojq gezd gnbv gy3t qojq gezd gnbv gy3t qojq geza",
    ] {
        assert_eq!(TotpSecret::from_base32(text).unwrap().as_bytes(), SEED_SHA256);
    }
    assert_eq!(
        TotpSecret::from_base32("not base32!").unwrap_err(),
        Error::TotpSecretNotBase32
    );
    assert_eq!(
        TotpSecret::from_bytes(&[0; 15]).unwrap_err(),
        Error::TotpSecretTooShort { bytes: 15 }
    );
    assert_eq!(
        TotpSecret::from_base32("GEZDGNBVGY3TQOJQ").unwrap_err(),
        Error::TotpSecretTooShort { bytes: 10 }
    );
    let generated = TotpSecret::generate([0xAB; 20]);
    assert_eq!(generated.as_bytes(), [0xAB; 20]);
    assert_eq!(format!("{generated:?}"), "TotpSecret(20 bytes)");
    assert_eq!(Digits::try_from(7), Err(Error::TotpDigits { digits: 7 }));
}

#[test]
fn the_otpauth_uri_names_tribune_and_the_human() {
    let s = TotpSecret::from_bytes(SEED_SHA1).unwrap();
    assert_eq!(
        otpauth_uri(&human("alice"), &s, TotpParams::default()).unwrap(),
        "otpauth://totp/Tribune:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tribune"
    );
    assert_eq!(
        otpauth_uri(&human("bob.b"), &s, params(Algorithm::Sha512, Digits::Eight)).unwrap(),
        "otpauth://totp/Tribune:bob.b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8&algorithm=SHA512&issuer=Tribune"
    );
}

/// Reads the half-block rendering back into modules (light on dark: a lit half is a light
/// module) and compares it with the code's own modules, quiet zone included.
#[test]
fn the_terminal_qr_code_draws_exactly_the_code_of_the_uri() {
    let uri = otpauth_uri(
        &human("alice"),
        &TotpSecret::from_bytes(SEED_SHA1).unwrap(),
        TotpParams::default(),
    )
    .unwrap();
    let text = qr_terminal(&uri).unwrap();
    let code = QrCode::new(uri.as_bytes()).unwrap();
    let n = code.width();
    let quiet = 4;
    let side = n + 2 * quiet;
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    assert_eq!(lines.len(), side.div_ceil(2));
    let mut dark = vec![vec![false; side]; side];
    for (row, line) in lines.iter().enumerate() {
        assert_eq!(line.len(), side);
        for (x, c) in line.iter().enumerate() {
            let (top_lit, bottom_lit) = match c {
                ' ' => (false, false),
                '\u{2584}' => (false, true),
                '\u{2580}' => (true, false),
                '\u{2588}' => (true, true),
                other => panic!("unexpected {other:?}"),
            };
            dark[2 * row][x] = !top_lit;
            if 2 * row + 1 < side {
                dark[2 * row + 1][x] = !bottom_lit;
            }
        }
    }
    let colors = code.to_colors();
    for y in 0..side {
        for x in 0..side {
            let inside = (quiet..quiet + n).contains(&x) && (quiet..quiet + n).contains(&y);
            let want = inside && colors[(y - quiet) * n + (x - quiet)] == Color::Dark;
            assert_eq!(dark[y][x], want, "module ({x}, {y})");
        }
    }
    assert_eq!(
        qr_terminal(&"x".repeat(8000)).unwrap_err(),
        Error::QrTooLong { bytes: 8000 }
    );
}

#[test]
fn an_enrolment_verifies_once_and_backs_an_mfa_approval() {
    let mut e = Enrollment::new(
        human("alice"),
        TotpSecret::generate(*b"abcdefghijklmnopqrst"),
        TotpParams::default(),
        T0,
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "human": "alice",
            "secret": "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
            "algorithm": "SHA1",
            "digits": 6,
            "enrolled_at_ms": T0,
            "last_used_step": null
        })
    );
    let back: Enrollment = serde_json::from_value(json).unwrap();
    assert_eq!(back.secret.as_bytes(), e.secret.as_bytes());
    assert!(e.qr().unwrap().lines().count() > 10);

    let now = T0 + 3_000;
    let code = code_at(&e.secret, e.params, u64::try_from(now / 1000).unwrap()).unwrap();
    let proof = e.verify(&code, now).unwrap();
    assert_eq!(e.last_used_step, Some(proof.step()));
    assert_eq!(proof.human(), &human("alice"));
    assert!(matches!(e.verify(&code, now + 1), Err(Error::TotpReplay { .. })));

    // The proof completes half of a dual-control approval; bob's must be his own.
    let mut req = open(new_request(Tier::Irreversible, 2, true, None));
    req.approve(&human("alice"), None, MfaEvidence::Verified(proof), now)
        .unwrap();
    let bob_proof = verify_for(&human("bob"), &e.secret, e.params, &code, now, None).unwrap();
    assert!(matches!(
        req.approve(&human("carol"), None, MfaEvidence::Verified(bob_proof), now),
        Err(Error::MfaWrongHuman { .. })
    ));
}
