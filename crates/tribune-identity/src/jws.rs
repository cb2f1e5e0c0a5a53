//! The compact-JWS framing both verifiers read before any cryptography: the size limit, the
//! three parts and the protected header's `alg`, `typ`, `kid` and `crit`. Reading the header
//! here lets an unsupported algorithm (`none`, `HS256`) be named as such, not reported as a
//! parse error, before `jsonwebtoken` checks the signature.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::Malformed;

/// The longest token either verifier reads (16 KiB), and the longest [`Issuer`] signs.
///
/// [`Issuer`]: crate::Issuer
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The protected header's members that matter here.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// Checks the size and shape of `token` and reads its protected header.
pub(crate) fn header(token: &str) -> Result<Header, Malformed> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Malformed::TooLong {
            len: token.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::Shape);
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| Malformed::Base64)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| Malformed::Header {
        detail: e.to_string(),
    })?;
    if header.crit.is_some() {
        return Err(Malformed::Critical);
    }
    Ok(header)
}

/// Maps a `jsonwebtoken` decoding error onto the shared cases: a signature that does not
/// verify, or a malformed token. Anything else (an unusable key, a provider error) cannot
/// verify the signature either, so it fails closed as a bad signature.
pub(crate) fn decode_error(e: &jsonwebtoken::errors::Error) -> DecodeError {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidToken => DecodeError::Malformed(Malformed::Shape),
        ErrorKind::Base64(_) => DecodeError::Malformed(Malformed::Base64),
        ErrorKind::Utf8(_) => DecodeError::Malformed(Malformed::Header {
            detail: e.to_string(),
        }),
        ErrorKind::Json(inner) => DecodeError::Malformed(Malformed::Claims {
            detail: inner.to_string(),
        }),
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
            DecodeError::Malformed(Malformed::Claims {
                detail: e.to_string(),
            })
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm | ErrorKind::MissingAlgorithm => {
            DecodeError::Algorithm
        }
        _ => DecodeError::Signature,
    }
}

/// The cases of [`decode_error`].
pub(crate) enum DecodeError {
    Malformed(Malformed),
    Algorithm,
    Signature,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn framing_errors() {
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            header(&long).unwrap_err(),
            Malformed::TooLong {
                len: MAX_TOKEN_BYTES + 1,
                max: MAX_TOKEN_BYTES
            }
        );
        for shape in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
            assert_eq!(header(shape).unwrap_err(), Malformed::Shape, "{shape}");
        }
        assert_eq!(header("!!.b.c").unwrap_err(), Malformed::Base64);
        assert!(matches!(
            header(&format!("{}.b.c", b64("{}"))),
            Err(Malformed::Header { .. })
        ));
        assert!(matches!(
            header(&format!("{}.b.c", b64("[1]"))),
            Err(Malformed::Header { .. })
        ));
        let crit = b64(r#"{"alg":"EdDSA","crit":["exp"],"exp":1}"#);
        assert_eq!(header(&format!("{crit}.b.c")).unwrap_err(), Malformed::Critical);
        let ok = header(&format!("{}.b.c", b64(r#"{"alg":"none"}"#))).unwrap();
        assert_eq!((ok.alg.as_str(), ok.typ, ok.kid), ("none", None, None));
    }
}
