//! Canonical JSON entries: RFC 8785 examples, the size limit, and canonical-bytes checks.

use serde::Serialize;
use serde_json::{Value, json};
use tribune_ledger::{Entry, Error, MAX_ENTRY_SIZE, entry_leaf_hash, leaf_hash};

/// RFC 8785 §3.2.2 input and output.
const RFC8785_INPUT: &str = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
const RFC8785_OUTPUT: &str = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;

/// RFC 8785 §3.2.3 sorting example.
const RFC8785_SORT_INPUT: &str = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
const RFC8785_SORT_OUTPUT: &str = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";

fn check(input: &str, expected: &str) {
    let value: Value = serde_json::from_str(input).unwrap();
    let entry = Entry::from_json(&value).unwrap();
    assert_eq!(std::str::from_utf8(entry.as_bytes()).unwrap(), expected);
    assert_eq!(entry.leaf_hash(), leaf_hash(expected.as_bytes()));
    assert_eq!(entry_leaf_hash(&value).unwrap(), entry.leaf_hash());
    assert_eq!(
        Entry::from_canonical_bytes(expected.as_bytes().to_vec()).unwrap(),
        entry
    );
}

#[test]
fn rfc8785_example() {
    check(RFC8785_INPUT, RFC8785_OUTPUT);
}

#[test]
fn rfc8785_sorting_example() {
    check(RFC8785_SORT_INPUT, RFC8785_SORT_OUTPUT);
}

#[test]
fn equal_values_have_equal_leaf_hashes() {
    let a: Value = serde_json::from_str(r#"{ "b": [1, 2.0], "a": "x" }"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"a":"x","b":[1,2]}"#).unwrap();
    assert_eq!(entry_leaf_hash(&a).unwrap(), entry_leaf_hash(&b).unwrap());
}

#[test]
fn typed_values_canonicalize_too() {
    #[derive(Serialize)]
    struct Event {
        type_uid: u32,
        activity: &'static str,
        actor: Actor,
    }
    #[derive(Serialize)]
    struct Actor {
        name: &'static str,
    }
    let event = Event {
        type_uid: 600_301,
        activity: "create",
        actor: Actor { name: "agent-7" },
    };
    assert_eq!(
        Entry::from_json(&serde_json::to_value(&event).unwrap())
            .unwrap()
            .as_bytes(),
        br#"{"activity":"create","actor":{"name":"agent-7"},"type_uid":600301}"#
    );
}

#[test]
fn size_limit_is_the_bundle_limit() {
    assert_eq!(MAX_ENTRY_SIZE, 65_535);
    // A JSON string of n characters canonicalizes to n + 2 bytes.
    let fits = json!("a".repeat(MAX_ENTRY_SIZE - 2));
    assert_eq!(Entry::from_json(&fits).unwrap().as_bytes().len(), MAX_ENTRY_SIZE);
    let too_big = json!("a".repeat(MAX_ENTRY_SIZE - 1));
    assert!(matches!(
        Entry::from_json(&too_big),
        Err(Error::EntryTooLarge {
            size: 65_536,
            max: 65_535
        })
    ));
    assert!(matches!(
        Entry::from_canonical_bytes(vec![b' '; 70_000]),
        Err(Error::EntryTooLarge { size: 70_000, .. })
    ));
}

#[test]
fn non_canonical_bytes_are_refused() {
    for bytes in [
        &br#"{"b":1,"a":2}"#[..],
        br#"{"a": 1}"#,
        br#"{"a":1,"a":2}"#,
        br#"{"a":1.0}"#,
        br#"{"a":"\u0041"}"#,
        b"not json",
        b"",
    ] {
        assert!(
            matches!(
                Entry::from_canonical_bytes(bytes.to_vec()),
                Err(Error::EntryNotCanonical)
            ),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    Entry::from_canonical_bytes(br#"{"a":1,"b":[true,null]}"#.to_vec()).unwrap();
}
