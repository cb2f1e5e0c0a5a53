//! RFC 8785 (JCS) canonical JSON of a `serde_json::Value`: the one canonical form Tribune
//! writes, for ledger entries, argument hashes and description pins alike.
//!
//! `serde_json_canonicalizer` serializes any `Serialize` value, so it cannot know an object's
//! keys before it has written them: it buffers every member of every object and re-parses each
//! key to sort it, an allocation or more per member. A `Value` already holds its keys, so here
//! they are sorted in place (by UTF-16 code units, as JCS asks) and nothing is buffered. Scalars
//! are still written by the same code as the library's: numbers by `serde_json_canonicalizer`
//! itself (ECMAScript number formatting), strings by `serde_json`, whose escaping is the one JCS
//! prescribes and the one the library uses. The unit tests check the output against
//! `serde_json_canonicalizer::to_vec`, so entries written before this module existed read back
//! unchanged.

use std::io::Write;

use serde_json::Value;

/// The canonical form of `value`.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(512);
    write(value, &mut out)?;
    Ok(out)
}

/// Writes the canonical form of `value` to `w`.
pub fn write(value: &Value, w: &mut impl Write) -> Result<(), serde_json::Error> {
    match value {
        Value::Null => raw(w, b"null"),
        Value::Bool(true) => raw(w, b"true"),
        Value::Bool(false) => raw(w, b"false"),
        Value::Number(n) => serde_json_canonicalizer::to_writer(n, w),
        Value::String(s) => serde_json::to_writer(&mut *w, s),
        Value::Array(items) => {
            raw(w, b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    raw(w, b",")?;
                }
                write(item, w)?;
            }
            raw(w, b"]")
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            raw(w, b"{")?;
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    raw(w, b",")?;
                }
                serde_json::to_writer(&mut *w, key)?;
                raw(w, b":")?;
                write(item, w)?;
            }
            raw(w, b"}")
        }
    }
}

fn raw(w: &mut impl Write, bytes: &[u8]) -> Result<(), serde_json::Error> {
    w.write_all(bytes).map_err(serde_json::Error::io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    fn ours(v: &Value) -> Vec<u8> {
        super::to_vec(v).unwrap()
    }

    fn value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            "[a-z]{0,4}",
            "\\PC{0,3}",
            Just("\u{10000}".to_owned()),
            Just("\u{ffff}".to_owned()),
            Just("\u{1f}\"\\".to_owned()),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            (-1_000_000i64..1_000_000).prop_map(|n| json!(n as f64 / 100.0)),
            "\\PC{0,6}".prop_map(Value::String),
            "[\u{0}-\u{1f}\"\\\\\u{7f}-\u{a0}\u{2028}\u{2029}]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #[test]
        fn matches_serde_json_canonicalizer(v in value()) {
            prop_assert_eq!(ours(&v), serde_json_canonicalizer::to_vec(&v).unwrap());
        }
    }

    #[test]
    fn known_answer() {
        // RFC 8785 section 3.2.3's ordering example (by UTF-16 code units: the emoji's
        // surrogates sort below U+FB33), and numbers in ECMAScript form.
        let v = json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew",
            "1": "One", "\u{1f600}": "Emoji", "\u{80}": "Control", "\u{f6}": "Latin",
            "n": [1e30, 4.5, 0.002, 1e-27, -0.0, 100.0], "/": "a/b"});
        let expected = concat!(
            r#"{"\r":"Carriage Return","/":"a/b","1":"One","n":[1e+30,4.5,0.002,1e-27,0,100],"#,
            "\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin\",\"\u{20ac}\":\"Euro Sign\",",
            "\"\u{1f600}\":\"Emoji\",\"\u{fb33}\":\"Hebrew\"}"
        );
        assert_eq!(String::from_utf8(ours(&v)).unwrap(), expected);
        assert_eq!(ours(&v), serde_json_canonicalizer::to_vec(&v).unwrap());
    }
}
