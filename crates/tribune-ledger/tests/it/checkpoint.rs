//! Checkpoint bodies (c2sp.org/tlog-checkpoint): format, defects, signing and opening.

use proptest::prelude::*;
use tribune_ledger::{Checkpoint, CheckpointDefect, Error, Hash, SigningKey, leaf_hash};

const ORIGIN: &str = "tribune.example/ledger";

fn key() -> SigningKey {
    SigningKey::from_seed(ORIGIN, [42; 32]).unwrap()
}

#[test]
fn c2sp_example_body_parses_and_round_trips() {
    let text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint = Checkpoint::from_text(text).unwrap();
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20_852_163);
    assert_eq!(
        checkpoint.root().to_base64(),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert!(checkpoint.extensions().is_empty());
    assert_eq!(checkpoint.to_text(), text);
}

#[test]
fn extensions_round_trip() {
    let checkpoint = Checkpoint::new(ORIGIN, 0, Hash::EMPTY_ROOT)
        .unwrap()
        .with_extension("one")
        .unwrap()
        .with_extension("two lines? no: two")
        .unwrap();
    let text = checkpoint.to_text();
    assert_eq!(
        text,
        "tribune.example/ledger\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\none\ntwo lines? no: two\n"
    );
    assert_eq!(Checkpoint::from_text(&text).unwrap(), checkpoint);
}

#[test]
fn defects_are_named() {
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let cases = [
        (format!("o\n1\n{root}"), CheckpointDefect::MissingFinalNewline),
        ("o\n1\n".to_owned(), CheckpointDefect::TooFewLines),
        (format!("\n1\n{root}\n"), CheckpointDefect::EmptyOrigin),
        (format!("o\n01\n{root}\n"), CheckpointDefect::BadTreeSize),
        (format!("o\n+1\n{root}\n"), CheckpointDefect::BadTreeSize),
        (format!("o\n\n{root}\n"), CheckpointDefect::BadTreeSize),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            CheckpointDefect::BadTreeSize,
        ),
        ("o\n1\nAAAA\n".to_owned(), CheckpointDefect::BadRootHash),
        ("o\n1\n!!!\n".to_owned(), CheckpointDefect::BadRootHash),
        (format!("o\n1\n{root}\n\n"), CheckpointDefect::EmptyExtensionLine),
        (
            format!("o\n1\n{root}\next\r\n"),
            CheckpointDefect::ControlCharacter,
        ),
    ];
    for (text, want) in cases {
        assert!(
            matches!(Checkpoint::from_text(&text), Err(Error::MalformedCheckpoint { defect }) if defect == want),
            "{text:?}: {:?}",
            Checkpoint::from_text(&text)
        );
    }
    assert_eq!(
        Checkpoint::from_text(&format!("o\n0\n{root}\n")).unwrap().size(),
        0
    );
    assert!(Checkpoint::new("", 1, Hash::EMPTY_ROOT).is_err());
    assert!(Checkpoint::new("a\nb", 1, Hash::EMPTY_ROOT).is_err());
}

#[test]
fn signed_checkpoints_open_with_the_key_only() {
    let key = key();
    let checkpoint = Checkpoint::new(ORIGIN, 7, leaf_hash(b"root")).unwrap();
    let note = checkpoint.sign(&key).unwrap();
    let text = String::from_utf8(note.clone()).unwrap();
    assert!(text.starts_with(&checkpoint.to_text()));
    assert!(text.contains(&format!("\n\n— {ORIGIN} ")));
    assert_eq!(Checkpoint::open(&note, &key.verifier_key()).unwrap(), checkpoint);
    assert_eq!(Checkpoint::parse_unverified(&note).unwrap(), checkpoint);

    let other = SigningKey::from_seed(ORIGIN, [43; 32]).unwrap();
    assert!(matches!(
        Checkpoint::open(&note, &other.verifier_key()),
        Err(Error::UnknownKey { .. })
    ));
}

#[test]
fn origin_must_be_the_key_name() {
    let key = key();
    let foreign = Checkpoint::new("other.example/log", 1, Hash::EMPTY_ROOT).unwrap();
    assert!(matches!(foreign.sign(&key), Err(Error::OriginMismatch { .. })));
    // Signed anyway as a raw note by the same key: opening still refuses it.
    let note = key.sign_note(&foreign.to_text()).unwrap();
    assert!(matches!(
        Checkpoint::open(&note, &key.verifier_key()),
        Err(Error::OriginMismatch { .. })
    ));
}

proptest! {
    #[test]
    fn body_parser_does_not_panic(text in "(?s).{0,200}") {
        let _ = Checkpoint::from_text(&text);
        let _ = Checkpoint::parse_unverified(text.as_bytes());
    }

    #[test]
    fn bodies_round_trip(
        origin in "[a-z0-9./-]{1,30}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        extensions in proptest::collection::vec("[ -~]{1,20}", 0..3),
    ) {
        let mut checkpoint = Checkpoint::new(&origin, size, Hash(root)).unwrap();
        for line in &extensions {
            checkpoint = checkpoint.with_extension(line).unwrap();
        }
        prop_assert_eq!(Checkpoint::from_text(&checkpoint.to_text()).unwrap(), checkpoint);
    }
}
