//! Keys and signed notes: the Go `sumdb/note` known answers, the C2SP example, and refusals.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tribune_ledger::{Error, KeyDefect, SigningKey, VerifierKey};

// golang.org/x/mod/sumdb/note documentation example (also in signed_note's docs).
const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                          then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
// The same text signed by the key whose seed is 32 zero bytes (Go's zeroReader example).
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter_note() -> String {
    format!("{PETER_TEXT}\n{PETER_SIG}")
}

#[test]
fn peter_neumann_keys_round_trip() {
    let signer = SigningKey::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_private_key(), PETER_SKEY);
    assert_eq!(signer.verifier_key().as_str(), PETER_VKEY);

    let verifier = VerifierKey::parse(PETER_VKEY).unwrap();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), 0xc74f20a3);
    assert_eq!(verifier.to_string(), PETER_VKEY);
    assert_eq!(verifier, signer.verifier_key());
}

#[test]
fn peter_neumann_signature_is_reproduced_byte_for_byte() {
    let signer = SigningKey::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(
        String::from_utf8(signer.sign_note(PETER_TEXT).unwrap()).unwrap(),
        peter_note()
    );
}

#[test]
fn peter_neumann_note_opens() {
    let verifier = VerifierKey::parse(PETER_VKEY).unwrap();
    assert_eq!(verifier.open_note(peter_note().as_bytes()).unwrap(), PETER_TEXT);
}

#[test]
fn zero_seed_key_reproduces_enoch_root_signature() {
    let signer = SigningKey::from_seed("EnochRoot", [0; 32]).unwrap();
    let note = String::from_utf8(signer.sign_note(PETER_TEXT).unwrap()).unwrap();
    assert_eq!(note, format!("{PETER_TEXT}\n{ENOCH_SIG}"));
}

#[test]
fn c2sp_spec_example_note_opens() {
    // From the c2sp.org/signed-note verifier-key example.
    let verifier =
        VerifierKey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").unwrap();
    let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    assert_eq!(
        verifier.open_note(note.as_bytes()).unwrap(),
        "This is an example message.\n"
    );
}

#[test]
fn generated_keys_round_trip_through_their_strings() {
    let mut rng = StdRng::seed_from_u64(7);
    let key = SigningKey::generate("tribune.example/ledger", &mut rng).unwrap();
    let again = SigningKey::from_private_key(&key.to_private_key()).unwrap();
    assert_eq!(again.verifier_key(), key.verifier_key());
    let note = key.sign_note("hello\n").unwrap();
    let verifier = VerifierKey::parse(key.verifier_key().as_str()).unwrap();
    assert_eq!(verifier.open_note(&note).unwrap(), "hello\n");
    // The secret stays out of Debug output.
    let debug = format!("{key:?}");
    assert!(!debug.contains(key.to_private_key().rsplit('+').next().unwrap()));
}

#[test]
fn a_flipped_signature_byte_is_a_bad_signature() {
    let verifier = VerifierKey::parse(PETER_VKEY).unwrap();
    // Change one base64 character in the signature (not in the key-ID prefix).
    let note = peter_note().replace("x08go/ZJku", "x08go/ZJkv");
    assert!(matches!(
        verifier.open_note(note.as_bytes()),
        Err(Error::BadSignature {
            key_id: 0xc74f20a3,
            ..
        })
    ));
    // A changed text fails the same way.
    let note = peter_note().replace("cryptography", "cryptographY");
    assert!(matches!(
        verifier.open_note(note.as_bytes()),
        Err(Error::BadSignature { .. })
    ));
}

#[test]
fn notes_by_other_keys_are_refused_and_cosignatures_ignored() {
    let verifier = VerifierKey::parse(PETER_VKEY).unwrap();
    let enoch = SigningKey::from_seed("EnochRoot", [0; 32]).unwrap();
    let by_enoch = enoch.sign_note(PETER_TEXT).unwrap();
    assert!(matches!(
        verifier.open_note(&by_enoch),
        Err(Error::UnknownKey {
            key_id: 0xc74f20a3,
            ..
        })
    ));
    // Same name, different key: a different key ID, so also unknown.
    let impostor = SigningKey::from_seed("PeterNeumann", [9; 32]).unwrap();
    assert!(matches!(
        verifier.open_note(&impostor.sign_note(PETER_TEXT).unwrap()),
        Err(Error::UnknownKey { .. })
    ));
    // Peter's signature plus a witness cosignature: accepted, the extra one ignored.
    let both = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(verifier.open_note(both.as_bytes()).unwrap(), PETER_TEXT);
}

#[test]
fn malformed_notes_are_refused() {
    let verifier = VerifierKey::parse(PETER_VKEY).unwrap();
    for (desc, note) in [
        ("no blank line", format!("{PETER_TEXT}{PETER_SIG}")),
        ("no signature", format!("{PETER_TEXT}\n")),
        ("control character", format!("a\tb\n\n{PETER_SIG}")),
        (
            "hyphen not em dash",
            format!("{PETER_TEXT}\n{}", PETER_SIG.replace('—', "-")),
        ),
        ("missing final newline", peter_note().trim_end().to_owned()),
    ] {
        assert!(
            matches!(verifier.open_note(note.as_bytes()), Err(Error::MalformedNote)),
            "{desc}"
        );
    }
}

#[test]
fn malformed_keys_are_refused() {
    let check = |text: &str, want: KeyDefect| {
        assert!(
            matches!(VerifierKey::parse(text), Err(Error::MalformedKey { defect }) if defect == want),
            "{text}"
        );
    };
    check(
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        KeyDefect::KeyId,
    );
    check(
        "PeterNeumann+c74f20a3+AhpczQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        KeyDefect::Algorithm,
    );
    check(
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        KeyDefect::Format,
    );
    check(
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        KeyDefect::Format,
    );
    check("PeterNeumann", KeyDefect::Format);
    assert!(matches!(
        VerifierKey::parse("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(Error::InvalidKeyName { .. })
    ));
    assert!(matches!(
        SigningKey::from_private_key(&PETER_SKEY.replace("c74f20a3", "c74f20a4")),
        Err(Error::MalformedKey {
            defect: KeyDefect::KeyId
        })
    ));
    assert!(matches!(
        SigningKey::from_private_key(PETER_VKEY),
        Err(Error::MalformedKey {
            defect: KeyDefect::Format
        })
    ));
    for name in ["", "a b", "a+b", "tab\there"] {
        assert!(matches!(
            SigningKey::from_seed(name, [1; 32]),
            Err(Error::InvalidKeyName { .. })
        ));
    }
}

mod properties {
    use proptest::prelude::*;
    use tribune_ledger::{SigningKey, VerifierKey};

    proptest! {
        /// Parsers of untrusted input never panic.
        #[test]
        fn parsers_do_not_panic(input in ".{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = VerifierKey::parse(&input);
            let _ = SigningKey::from_private_key(&input);
            let key = VerifierKey::parse(super::PETER_VKEY).unwrap();
            let _ = key.open_note(input.as_bytes());
            let _ = key.open_note(&bytes);
        }

        /// Whatever text is signed opens to itself, and to nothing else.
        #[test]
        fn sign_then_open(seed in any::<[u8; 32]>(), text in "[a-z0-9 ./]{0,40}(\n[a-z0-9 ./]{0,40}){0,3}\n") {
            let key = SigningKey::from_seed("tribune.example/log", seed).unwrap();
            let note = key.sign_note(&text).unwrap();
            prop_assert_eq!(key.verifier_key().open_note(&note).unwrap(), text);
        }
    }
}
