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
    #[error("token is invalid")]
    Invalid,
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
    pub fn new(secret: &[u8]) -> Self {
        Self::with_previous(secret, &[])
    }

    /// Signs with `secret`; also accepts tokens signed with any of `previous`.
    pub fn with_previous(secret: &[u8], previous: &[Vec<u8>]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: std::iter::once(secret)
                .chain(previous.iter().map(Vec::as_slice))
                .map(DecodingKey::from_secret)
                .collect(),
            validation,
        }
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
pub fn load_or_create_secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(hex_secret) => Ok(hex_secret.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let secret = hex::encode(rand::random::<[u8; 32]>());
            let tmp = data_dir.join(format!("jwt-secret.{}.tmp", std::process::id()));
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

    #[test]
    fn tokens_round_trip_and_reject_other_secrets() {
        let keys = JwtKeys::new(b"secret-one");
        let claims = Claims::new("u1".into(), Some("t1".into()), Role::Manager, 60);
        let token = keys.issue(&claims).expect("signs");
        assert_eq!(keys.verify(&token).expect("verifies").sub, "u1");
        assert!(matches!(
            JwtKeys::new(b"secret-two").verify(&token),
            Err(TokenError::Invalid)
        ));
        let mut expired = claims;
        expired.exp = expired.iat - 3600;
        let token = keys.issue(&expired).expect("signs");
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn rotated_keys_still_verify_until_dropped() {
        let old = JwtKeys::new(b"old-secret");
        let token = old
            .issue(&Claims::new("u1".into(), None, Role::Member, 60))
            .expect("signs");
        let rotated = JwtKeys::with_previous(b"new-secret", &[b"old-secret".to_vec()]);
        assert_eq!(rotated.verify(&token).expect("old key accepted").sub, "u1");
        let fresh = rotated
            .issue(&Claims::new("u2".into(), None, Role::Member, 60))
            .expect("signs");
        assert!(matches!(old.verify(&fresh), Err(TokenError::Invalid)));
        assert!(matches!(
            JwtKeys::new(b"new-secret").verify(&token),
            Err(TokenError::Invalid)
        ));
    }
}
