//! What an upload must be: its size cap, and whose ed25519 signature it carries.

use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use super::{PackageError, Provisioner};

/// What the platform accepts as a module upload.
#[derive(Debug, Clone)]
pub struct PackageSettings {
    /// The largest component, in bytes.
    pub max_bytes: usize,
    /// Publishers whose ed25519 signatures are trusted, by name.
    pub publisher_keys: Vec<(String, VerifyingKey)>,
    /// Refuse unsigned uploads (production).
    pub require_signature: bool,
}

impl Default for PackageSettings {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            publisher_keys: Vec::new(),
            require_signature: false,
        }
    }
}

/// Parses `name=<base64 of a 32-byte ed25519 public key>`.
pub fn parse_publisher_key(text: &str) -> Result<(String, VerifyingKey), String> {
    let (name, key) = text
        .split_once('=')
        .ok_or("a publisher key is name=<base64 public key>")?;
    let name = name.trim();
    if name.is_empty() {
        return Err("a publisher key needs a name".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|e| format!("publisher key {name}: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("publisher key {name}: an ed25519 public key is 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|e| format!("publisher key {name}: {e}"))?;
    Ok((name.to_owned(), key))
}

impl Provisioner<'_> {
    /// The trusted publisher whose key verifies `signature` (base64 ed25519 over the
    /// component's bytes); none for an unsigned upload where that is allowed.
    pub(super) fn publisher_of(
        &self,
        wasm: &[u8],
        signature: Option<&str>,
    ) -> Result<Option<String>, PackageError> {
        let settings = self.packages;
        let Some(signature) = signature else {
            return if settings.require_signature {
                Err(PackageError::SignatureRequired)
            } else {
                Ok(None)
            };
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or(PackageError::BadSignature)?;
        settings
            .publisher_keys
            .iter()
            .find(|(_, key)| key.verify(wasm, &signature).is_ok())
            .map(|(name, _)| Some(name.clone()))
            .ok_or(PackageError::BadSignature)
    }
}
