//! Tree heads as C2SP checkpoints (c2sp.org/tlog-checkpoint).
//!
//! A checkpoint body is three or more newline-terminated lines: the origin (which log: Tribune
//! uses the deployment's key name), the tree size in decimal, the base64 root hash, then optional
//! non-empty extension lines. Signed, it is a signed note; [`Checkpoint::open`] accepts it only
//! when the deployment key signed it and the origin names that key, so a checkpoint of another
//! log signed by the same key cannot be passed off as this one's.

use crate::error::{CheckpointDefect, Error};
use crate::hash::Hash;
use crate::note::{SigningKey, VerifierKey};

/// A parsed checkpoint body: a signed statement of the tree's size and root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, Error> {
        check_line(origin)?;
        if origin.is_empty() {
            return Err(malformed(CheckpointDefect::EmptyOrigin));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds an extension line (non-empty, no control characters).
    pub fn with_extension(mut self, line: &str) -> Result<Self, Error> {
        check_line(line)?;
        if line.is_empty() {
            return Err(malformed(CheckpointDefect::EmptyExtensionLine));
        }
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// The origin line: which log this is.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash at that size.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: every line newline-terminated.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint body.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed(CheckpointDefect::MissingFinalNewline))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(malformed(CheckpointDefect::TooFewLines));
        };
        let size = parse_size(size)?;
        let root = Hash::from_base64(root).map_err(|_| malformed(CheckpointDefect::BadRootHash))?;
        let mut checkpoint = Self::new(origin, size, root)?;
        for line in lines {
            checkpoint = checkpoint.with_extension(line)?;
        }
        Ok(checkpoint)
    }

    /// Signs the checkpoint; the key name must equal the origin.
    pub fn sign(&self, key: &SigningKey) -> Result<Vec<u8>, Error> {
        if key.name() != self.origin {
            return Err(Error::OriginMismatch {
                expected: key.name().to_owned(),
                found: self.origin.clone(),
            });
        }
        key.sign_note(&self.to_text())
    }

    /// Verifies a signed checkpoint with `key` and parses it. Refuses a bad signature, a note
    /// the key did not sign, and a checkpoint whose origin is not the key name.
    pub fn open(note: &[u8], key: &VerifierKey) -> Result<Self, Error> {
        let text = key.open_note(note)?;
        let checkpoint = Self::from_text(&text)?;
        if checkpoint.origin != key.name() {
            return Err(Error::OriginMismatch {
                expected: key.name().to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }

    /// Parses the checkpoint inside a signed note WITHOUT verifying any signature, e.g. to check
    /// that a file about to be published describes the right tree. Never trust the result.
    pub fn parse_unverified(note: &[u8]) -> Result<Self, Error> {
        let note = signed_note::Note::from_bytes(note).map_err(|_| Error::MalformedNote)?;
        let text = std::str::from_utf8(note.text()).map_err(|_| Error::MalformedNote)?;
        Self::from_text(text)
    }
}

fn malformed(defect: CheckpointDefect) -> Error {
    Error::MalformedCheckpoint { defect }
}

/// Notes forbid ASCII control characters; a newline would split the line.
fn check_line(line: &str) -> Result<(), Error> {
    if line.chars().any(|c| c < ' ') {
        return Err(malformed(CheckpointDefect::ControlCharacter));
    }
    Ok(())
}

/// ASCII decimal with no leading zeroes (a lone `0` is the empty tree).
fn parse_size(text: &str) -> Result<u64, Error> {
    let bad = || malformed(CheckpointDefect::BadTreeSize);
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}
