//! Properties: generated valid cards and IBANs are always found exactly; redaction leaves
//! nothing to find; scanning any text yields ordered, disjoint spans on char boundaries.

use proptest::prelude::*;
use serde_json::Value;
use tribune_dlp::validate::{iban_length, luhn};
use tribune_dlp::{redact, redact_str};

use crate::scanner;

/// Lowercase filler words: nothing any detector looks for.
fn filler() -> impl Strategy<Value = String> {
    "[a-z]{1,8}( [a-z]{1,8}){0,4}"
}

/// A valid card number: a network prefix, random digits, the Luhn digit; printed plain or in
/// groups of four.
fn card() -> impl Strategy<Value = String> {
    let networks: Vec<(&str, usize)> = vec![
        ("4", 16),
        ("4", 13),
        ("51", 16),
        ("55", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("65", 19),
        ("3528", 16),
        ("62", 17),
        ("36", 14),
    ];
    (
        proptest::sample::select(networks),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|((prefix, len), a, b, grouped)| {
            let mut digits: Vec<u8> = prefix.bytes().collect();
            let mut seed = format!("{a:020}{b:020}").into_bytes().into_iter();
            while digits.len() < len - 1 {
                digits.push(seed.next().unwrap_or(b'7'));
            }
            digits.push(b'0');
            let check = (0..10u8).find(|d| {
                *digits.last_mut().unwrap() = b'0' + d;
                luhn(&digits)
            });
            *digits.last_mut().unwrap() = b'0' + check.unwrap();
            let text = String::from_utf8(digits).unwrap();
            if grouped && len == 16 {
                text.as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                text
            }
        })
}

/// A valid IBAN: a country of the registry, a random BBAN of its length, the mod-97 check
/// digits; printed compact or in groups of four.
fn iban() -> impl Strategy<Value = String> {
    let countries = [
        "DE", "GB", "FR", "NL", "CH", "NO", "MT", "LC", "BR", "SA", "PL", "IT",
    ];
    (
        proptest::sample::select(countries.to_vec()),
        proptest::collection::vec(
            proptest::sample::select(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()),
            30,
        ),
        any::<bool>(),
    )
        .prop_map(|(country, pool, grouped)| {
            let len = iban_length(country.as_bytes()).unwrap();
            let bban: Vec<u8> = pool.into_iter().take(len - 4).collect();
            let mut rearranged = bban.clone();
            rearranged.extend_from_slice(country.as_bytes());
            rearranged.extend_from_slice(b"00");
            let mut r = 0u32;
            for c in rearranged {
                r = match c {
                    b'0'..=b'9' => (r * 10 + u32::from(c - b'0')) % 97,
                    _ => (r * 100 + u32::from(c - b'A') + 10) % 97,
                };
            }
            let check = 98 - r;
            let compact = format!("{country}{check:02}{}", String::from_utf8(bban).unwrap());
            if grouped {
                compact
                    .as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                compact
            }
        })
}

/// Samples of every detector, for mixing into text.
const SECRETS: &[&str] = &[
    "536-22-1947",
    "4111 1111 1111 1111",
    "GB82WEST12345698765432",
    "ada@example.org",
    "+44 20 7946 0958",
    "(415) 555-2671",
    "AKIAIOSFODNN7EXAMPLE",
    "xoxb-1234567890-1234567890123-AbCdEfGhIjKl",
    "MRN: 00482913",
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----",
];

fn text_with_secrets() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            filler(),
            proptest::sample::select(SECRETS.to_vec()).prop_map(str::to_owned)
        ],
        0..12,
    )
    .prop_map(|parts| parts.join(" "))
}

fn json_with_secrets() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        text_with_secrets().prop_map(Value::String),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(4111111111111111u64)),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(text_with_secrets(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_cards_are_always_found(before in filler(), card in card(), after in filler()) {
        let text = format!("{before} {card} {after}");
        let start = before.len() + 1;
        let found: Vec<_> = scanner().scan(&text).into_iter().map(|f| (f.detector.to_string(), f.span)).collect();
        prop_assert_eq!(found, vec![("payment-card".to_owned(), start..start + card.len())]);
    }

    #[test]
    fn valid_ibans_are_always_found(before in filler(), iban in iban(), after in filler()) {
        let text = format!("{before} {iban} {after}");
        let start = before.len() + 1;
        let found: Vec<_> = scanner().scan(&text).into_iter().map(|f| (f.detector.to_string(), f.span)).collect();
        prop_assert_eq!(found, vec![("iban".to_owned(), start..start + iban.len())]);
    }

    #[test]
    fn redacted_text_has_nothing_left(text in text_with_secrets()) {
        let s = scanner();
        let redacted = redact_str(&text, &s.scan(&text));
        prop_assert_eq!(s.scan(&redacted), vec![]);
        for secret in SECRETS {
            prop_assert!(!redacted.contains(secret), "{secret:?} left in {redacted:?}");
        }
    }

    #[test]
    fn redacted_json_has_nothing_left(value in json_with_secrets()) {
        let s = scanner();
        let redacted = redact(value.clone(), &s.scan_value(&value));
        prop_assert_eq!(s.scan_value(&redacted), vec![]);
    }

    #[test]
    fn spans_are_ordered_disjoint_and_on_char_boundaries(
        text in prop_oneof!["\\PC{0,200}", "[0-9 +().@a-zA-Z:/-]{0,200}"]
    ) {
        let findings = scanner().scan(&text);
        let mut end = 0;
        for f in &findings {
            prop_assert!(f.span.start >= end && f.span.start < f.span.end);
            prop_assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
            end = f.span.end;
        }
        prop_assert!(end <= text.len());
    }
}
