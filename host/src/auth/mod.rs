//! Access tokens: HS256 JWTs carrying tenant, user and role.

pub mod accounts;
pub mod password;

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Roles, lowest first, so `role >= Role::Manager` reads as "at least manager".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Member,
    Manager,
    TenantAdmin,
    SuperAdmin,
}

impl Role {
    /// The name used in tokens, the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "MEMBER",
            Self::Manager => "MANAGER",
            Self::TenantAdmin => "TENANT_ADMIN",
            Self::SuperAdmin => "SUPER_ADMIN",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "MEMBER" => Ok(Self::Member),
            "MANAGER" => Ok(Self::Manager),
            "TENANT_ADMIN" => Ok(Self::TenantAdmin),
            "SUPER_ADMIN" => Ok(Self::SuperAdmin),
            other => Err(format!(
                "unknown role {other:?}: expected MEMBER, MANAGER, TENANT_ADMIN or SUPER_ADMIN"
            )),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The tenant id; none for platform users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    /// The token id.
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The session (refresh-token family) the token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Claims {
    pub fn new(sub: String, tenant: Option<String>, role: Role, ttl_secs: u64) -> Self {
        let now = jsonwebtoken::get_current_timestamp();
        Self {
            sub,
            tenant,
            role,
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
            email: None,
            name: None,
            sid: None,
        }
    }

    /// A platform administrator: super admin with no tenant.
    pub fn is_platform_admin(&self) -> bool {
        self.role == Role::SuperAdmin && self.tenant.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token is invalid")]
    Invalid,
}

/// The shortest secret accepted for signing or verifying, in bytes: HS256's own
/// output size. A shorter key (an empty one above all) is one an attacker can guess,
/// and a key that verifies is a key that signs.
pub const MIN_SECRET_BYTES: usize = 32;

/// A secret refused because it is too short to keep tokens unforgeable.
#[derive(Debug, thiserror::Error)]
pub enum WeakSecret {
    #[error("the JWT signing secret {0}")]
    Signing(Shortfall),
    #[error("previous JWT secret {position} of {count} {shortfall}")]
    Previous {
        position: usize,
        count: usize,
        shortfall: Shortfall,
    },
}

/// How a refused secret falls short; never the secret itself.
#[derive(Debug)]
pub enum Shortfall {
    Empty,
    Short(usize),
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "is empty (an unset value, or a stray comma in a list); every secret needs at least {MIN_SECRET_BYTES} bytes"
            ),
            Self::Short(len) => write!(
                f,
                "is {len} bytes; every secret needs at least {MIN_SECRET_BYTES} bytes"
            ),
        }
    }
}

fn shortfall(secret: &[u8]) -> Option<Shortfall> {
    match secret.len() {
        0 => Some(Shortfall::Empty),
        len if len < MIN_SECRET_BYTES => Some(Shortfall::Short(len)),
        _ => None,
    }
}

/// Signs and verifies access tokens with one HS256 secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    /// The signing secret first, then secrets being rotated out: tokens they signed
    /// stay valid until they expire.
    decoding: Vec<DecodingKey>,
    validation: Validation,
}

impl JwtKeys {
    /// Signs with `secret`; also accepts tokens signed with any of `previous`. Every
    /// one of them must be at least [`MIN_SECRET_BYTES`] long, in development too:
    /// this is the only way to build keys, so no configuration can verify with a
    /// guessable one.
    pub fn new(secret: &[u8], previous: &[&[u8]]) -> Result<Self, WeakSecret> {
        if let Some(shortfall) = shortfall(secret) {
            return Err(WeakSecret::Signing(shortfall));
        }
        for (index, old) in previous.iter().enumerate() {
            if let Some(shortfall) = shortfall(old) {
                return Err(WeakSecret::Previous {
                    position: index + 1,
                    count: previous.len(),
                    shortfall,
                });
            }
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        // A token that names a start (`nbf`) is not taken before it.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: std::iter::once(secret)
                .chain(previous.iter().copied())
                .map(DecodingKey::from_secret)
                .collect(),
            validation,
        })
    }

    /// The keys `config` names: its signing secret (or, in development only, the one
    /// kept in the data dir) and the previous secrets, all held to the same rule.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let secret =
            load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir, "jwt-secret")
                .context("loading the JWT signing secret")?;
        let previous: Vec<&[u8]> = config
            .jwt_previous_secrets
            .iter()
            .map(String::as_bytes)
            .collect();
        Self::new(&secret, &previous).with_context(|| {
            let signing = match config.jwt_secret {
                Some(_) => "MOSAIC_JWT_SECRET or MOSAIC_JWT_SECRET_FILE".to_owned(),
                None => config.data_dir.join("jwt-secret").display().to_string(),
            };
            format!(
                "refusing the JWT secrets (signing secret from {signing}, previous ones from \
                 MOSAIC_JWT_PREVIOUS_SECRETS)"
            )
        })
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Only HS256 with one of our secrets: `alg: none` and other algorithms are
    /// refused.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let mut outcome = Err(TokenError::Invalid);
        for key in &self.decoding {
            outcome = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
                .map(|data| data.claims)
                .map_err(|e| match e.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    _ => TokenError::Invalid,
                });
            // Only a wrong signature is worth trying the next key for.
            if !matches!(outcome, Err(TokenError::Invalid)) {
                break;
            }
        }
        outcome
    }
}

/// A display name, of a person or a company: 1 to 200 characters once trimmed, no
/// control characters.
pub fn valid_name(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().count() <= 200 && !s.chars().any(char::is_control)
}

/// A plausible email address: one `@`, a dotted domain, no spaces.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The signing secret: `configured` if given, else the one kept in `data_dir`, made
/// on first start.
/// The configured secret, or (development) the one kept in `data_dir/<file>`,
/// generated on first use.
pub(crate) fn load_or_create_secret(
    configured: Option<&str>,
    data_dir: &Path,
    file: &str,
) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(hex_secret) => Ok(hex_secret.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let secret = hex::encode(rand::random::<[u8; 32]>());
            let tmp = data_dir.join(format!("{file}.{}.tmp", std::process::id()));
            write_private(&tmp, &secret)?;
            // Linking fails if the file exists: of two first starts, one wins and
            // both read the winner's secret back.
            let _ = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            Ok(std::fs::read_to_string(&path)?.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub role: Role,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The login session, for tokens that came from one.
    pub session: Option<String>,
}

impl From<&Claims> for Caller {
    fn from(claims: &Claims) -> Self {
        Self {
            user_id: claims.sub.clone(),
            role: claims.role,
            email: claims.email.clone(),
            display_name: claims.name.clone(),
            session: claims.sid.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Member < Role::Manager);
        assert!(Role::Manager < Role::TenantAdmin);
        assert!(Role::TenantAdmin < Role::SuperAdmin);
        assert_eq!("tenant_admin".parse::<Role>(), Ok(Role::TenantAdmin));
        assert!("root".parse::<Role>().is_err());
    }

    const ONE: &[u8] = b"secret-one-of-at-least-thirty-two-bytes";
    const TWO: &[u8] = b"secret-two-of-at-least-thirty-two-bytes";

    #[test]
    fn tokens_round_trip_and_reject_other_secrets() {
        let keys = JwtKeys::new(ONE, &[]).expect("strong secret");
        let claims = Claims::new("u1".into(), Some("t1".into()), Role::Manager, 60);
        let token = keys.issue(&claims).expect("signs");
        assert_eq!(keys.verify(&token).expect("verifies").sub, "u1");
        assert!(matches!(
            JwtKeys::new(TWO, &[])
                .expect("strong secret")
                .verify(&token),
            Err(TokenError::Invalid)
        ));
        let mut expired = claims;
        expired.exp = expired.iat - 3600;
        let token = keys.issue(&expired).expect("signs");
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn rotated_keys_still_verify_until_dropped() {
        let old = JwtKeys::new(ONE, &[]).expect("strong secret");
        let token = old
            .issue(&Claims::new("u1".into(), None, Role::Member, 60))
            .expect("signs");
        let rotated = JwtKeys::new(TWO, &[ONE]).expect("strong secrets");
        assert_eq!(rotated.verify(&token).expect("old key accepted").sub, "u1");
        let fresh = rotated
            .issue(&Claims::new("u2".into(), None, Role::Member, 60))
            .expect("signs");
        assert!(matches!(old.verify(&fresh), Err(TokenError::Invalid)));
        assert!(matches!(
            JwtKeys::new(TWO, &[])
                .expect("strong secret")
                .verify(&token),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn every_secret_must_be_strong() {
        let short = [b'k'; MIN_SECRET_BYTES - 1];
        let refusal = |secret: &[u8], previous: &[&[u8]]| {
            JwtKeys::new(secret, previous)
                .err()
                .expect("refused")
                .to_string()
        };
        assert!(refusal(b"", &[]).starts_with("the JWT signing secret is empty"));
        assert!(refusal(&short, &[]).contains("is 31 bytes"));
        assert_eq!(
            refusal(ONE, &[TWO, b""]),
            "previous JWT secret 2 of 2 is empty (an unset value, or a stray comma in a list); \
             every secret needs at least 32 bytes"
        );
        assert!(refusal(ONE, &[b"x", TWO]).starts_with("previous JWT secret 1 of 2 is 1 bytes"));
        assert!(refusal(ONE, &[&short]).contains("31 bytes"));
        // The message never carries the secret.
        assert!(!refusal(ONE, &[b"hunter2"]).contains("hunter2"));
        assert!(JwtKeys::new(&[b'k'; MIN_SECRET_BYTES], &[&[b'o'; MIN_SECRET_BYTES]]).is_ok());
    }
}
