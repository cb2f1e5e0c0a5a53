//! Bearer tokens: minting and hashing. Only the hash is ever stored.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked token is easy to recognise and scan for.
pub const PREFIX: &str = "trb_";

/// A new token: the prefix and 32 random bytes, base64url without padding.
pub fn mint() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// SHA-256 of the whole token string. Tokens carry 256 random bits, so a fast hash is enough:
/// there is nothing to brute-force that a slow hash would protect.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks a token supplied from outside (e.g. `TRIBUNE_BOOTSTRAP_TOKEN`) is strong enough.
pub fn check_supplied(token: &str) -> Result<(), String> {
    if !token.starts_with(PREFIX) {
        return Err(format!("a token must start with `{PREFIX}`"));
    }
    if token.len() < PREFIX.len() + 32 {
        return Err("a token needs at least 32 characters after its prefix".to_owned());
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err("a token may only contain letters, digits, `_` and `-`".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_pass_the_supplied_check_and_differ() {
        let a = mint();
        let b = mint();
        assert_ne!(a, b);
        assert_eq!(check_supplied(&a), Ok(()));
        assert!(check_supplied("trb_short").is_err());
        assert!(check_supplied(&format!("xx_{}", &a[4..])).is_err());
    }
}
