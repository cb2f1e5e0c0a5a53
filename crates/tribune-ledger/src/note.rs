//! Ed25519 keys and C2SP signed notes (c2sp.org/signed-note).
//!
//! The note format itself (text, blank line, `— <name> <base64(key id || signature)>` lines, the
//! size and control-character rules, ignoring signatures by unknown keys) is Cloudflare's
//! `signed_note` crate, a port of Go's `golang.org/x/mod/sumdb/note`. This module adds the key
//! types Tribune hands around: a [`SigningKey`] made from a seed or a caller's RNG, and a
//! [`VerifierKey`] parsed from the public `<name>+<hex id>+<base64(0x01 || key)>` string an
//! auditor is given. Opening a note succeeds only if the expected key signed it and that
//! signature verifies; other signatures (witness cosignatures, rotated keys) are ignored, as the
//! spec requires.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use signed_note::{NoteError, VerificationError};

use crate::error::{Error, KeyDefect};

/// Signature type byte for Ed25519 in c2sp.org/signed-note.
const ALG_ED25519: u8 = 0x01;

/// An Ed25519 note signing key with its key name.
///
/// `Debug` does not show the secret; [`SigningKey::to_private_key`] does, for storage.
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    key_id: u32,
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A key from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, Error> {
        check_key_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let key_id = key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// A 32-byte seed for another key, derived from this one for `purpose` (SHA-256 over a
    /// domain-separation label, the purpose and this key's seed). Whoever holds this key can
    /// derive it, so replicas sharing the ledger key share the derived key too.
    pub fn derive_seed(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"tribune derived key\0");
        hasher.update(purpose.as_bytes());
        hasher.update([0u8]);
        hasher.update(self.key.to_bytes());
        hasher.finalize().into()
    }

    /// A fresh key from the caller's cryptographic RNG.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(name: &str, rng: &mut R) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(name, seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn from_private_key(text: &str) -> Result<Self, Error> {
        let format = || Error::MalformedKey {
            defect: KeyDefect::Format,
        };
        let rest = text.strip_prefix("PRIVATE+KEY+").ok_or_else(format)?;
        let (name, id, key) = split_key(rest)?;
        let seed = ed25519_key(&key)?;
        let signing_key = Self::from_seed(name, seed)?;
        if signing_key.key_id != id {
            return Err(Error::MalformedKey {
                defect: KeyDefect::KeyId,
            });
        }
        Ok(signing_key)
    }

    /// The secret key string `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn to_private_key(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(ALG_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(key)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID: the first four bytes of `SHA-256(name || 0x0A || 0x01 || public key)`.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching public verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::from_public_key(&self.name, self.key.verifying_key())
    }

    /// Signs `text` (which must end in a newline) and returns the signed note.
    pub fn sign_note(&self, text: &str) -> Result<Vec<u8>, Error> {
        let mut note = signed_note::Note::new(text.as_bytes(), &[]).map_err(note_error)?;
        note.add_sigs(&[self]).map_err(note_error)?;
        Ok(note.to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl signed_note::Signer for SigningKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.try_sign(msg)?.to_vec())
    }
}

/// A public Ed25519 note verifier key, as given to auditors.
#[derive(Clone)]
pub struct VerifierKey {
    encoded: String,
    name: String,
    key_id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Parses `<name>+<hex id>+<base64(0x01 || 32-byte public key)>`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (name, id, key) = split_key(text)?;
        let public = ed25519_dalek::VerifyingKey::from_bytes(&ed25519_key(&key)?).map_err(|_| {
            Error::MalformedKey {
                defect: KeyDefect::Format,
            }
        })?;
        let parsed = Self::from_public_key(name, public);
        if parsed.key_id != id {
            return Err(Error::MalformedKey {
                defect: KeyDefect::KeyId,
            });
        }
        Ok(parsed)
    }

    fn from_public_key(name: &str, key: ed25519_dalek::VerifyingKey) -> Self {
        Self {
            encoded: signed_note::new_ed25519_verifier_key(name, &key),
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The encoded key string.
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// Verifies a signed note and returns its text.
    ///
    /// Fails with [`Error::BadSignature`] if this key's signature does not verify, and with
    /// [`Error::UnknownKey`] if this key did not sign the note at all.
    pub fn open_note(&self, note: &[u8]) -> Result<String, Error> {
        let note = signed_note::Note::from_bytes(note).map_err(note_error)?;
        match note.verify(self) {
            Ok(_) => {}
            Err(NoteError::UnverifiedNote) => {
                return Err(Error::UnknownKey {
                    name: self.name.clone(),
                    key_id: self.key_id,
                });
            }
            Err(other) => return Err(note_error(other)),
        }
        // signed_note only builds notes from valid UTF-8.
        String::from_utf8(note.text().to_vec()).map_err(|_| Error::MalformedNote)
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifierKey").field(&self.encoded).finish()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

impl FromStr for VerifierKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PartialEq for VerifierKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for VerifierKey {}

/// Ed25519 over the note text. `verify_strict` also refuses small-order keys and non-canonical
/// signatures, which no honest signer produces.
impl signed_note::Verifier for VerifierKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

/// A single-key verifier set: exactly this key is known.
impl signed_note::Verifiers for VerifierKey {
    fn verifier(&self, name: &str, id: u32) -> Result<&dyn signed_note::Verifier, VerificationError> {
        if name == self.name && id == self.key_id {
            Ok(self)
        } else {
            Err(VerificationError::UnknownKey {
                name: name.to_owned(),
                id,
            })
        }
    }
}

fn key_id(name: &str, public: &ed25519_dalek::VerifyingKey) -> u32 {
    let mut key = Vec::with_capacity(33);
    key.push(ALG_ED25519);
    key.extend_from_slice(public.as_bytes());
    signed_note::key_id(name, &key)
}

fn check_key_name(name: &str) -> Result<(), Error> {
    if signed_note::is_key_name_valid(name) {
        Ok(())
    } else {
        Err(Error::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// Splits `<name>+<8 hex digits>+<base64>` into its parts.
fn split_key(text: &str) -> Result<(&str, u32, Vec<u8>), Error> {
    let format = || Error::MalformedKey {
        defect: KeyDefect::Format,
    };
    let (name, rest) = text.split_once('+').ok_or_else(format)?;
    let (id_hex, key_b64) = rest.split_once('+').ok_or_else(format)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format());
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|_| format())?;
    let key = BASE64.decode(key_b64).map_err(|_| format())?;
    check_key_name(name)?;
    Ok((name, id, key))
}

/// The 32 key bytes after the Ed25519 algorithm byte.
fn ed25519_key(key: &[u8]) -> Result<[u8; 32], Error> {
    match key.split_first() {
        Some((&ALG_ED25519, bytes)) => <[u8; 32]>::try_from(bytes).map_err(|_| Error::MalformedKey {
            defect: KeyDefect::Format,
        }),
        Some(_) => Err(Error::MalformedKey {
            defect: KeyDefect::Algorithm,
        }),
        None => Err(Error::MalformedKey {
            defect: KeyDefect::Format,
        }),
    }
}

fn note_error(error: NoteError) -> Error {
    match error {
        NoteError::InvalidSignature { name, id } => Error::BadSignature { name, key_id: id },
        NoteError::InvalidSigner => Error::MalformedNote,
        // The rest cannot follow from a single known key and well-formed input, except a
        // malformed note; they all mean the note cannot be accepted as it stands.
        _ => Error::MalformedNote,
    }
}
