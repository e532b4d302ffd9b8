//! Passwords: argon2id hashes (PHC strings) and the password policy.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 128;

/// Passwords refused whatever their length: the most common ones that pass it.
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1111111111",
    "0000000000",
    "qwertyuiop",
    "password123",
    "password12",
    "password1!",
    "passw0rd123",
    "iloveyou12",
    "abcdefghij",
    "abc1234567",
    "qwerty1234",
    "qwerty12345",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "letmein123",
    "welcome123",
    "administrator",
    "changeme123",
    "football123",
    "princess123",
    "sunshine123",
    "superman123",
    "trustno1234",
    "monkey12345",
    "dragon12345",
    "baseball123",
    "mosaic1234",
];

/// The policy's verdict on a new password, as the message of a 422 on `password`.
pub fn check_policy(password: &str, email: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    let lower = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
    if length < MIN_LENGTH {
        Err("must be at least 10 characters")
    } else if length > MAX_LENGTH {
        Err("must be at most 128 characters")
    } else if lower == email.to_lowercase()
        || (local_part.len() >= 4 && lower.contains(&local_part))
    {
        Err("must not contain your email address")
    } else if COMMON.contains(&lower.as_str()) {
        Err("is too common")
    } else if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(c))
    {
        Err("must not be one repeated character")
    } else {
        Ok(())
    }
}

/// An argon2id hash with a random salt, as a PHC string.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// Whether `password` matches the PHC string `stored`. A stored value that is no
/// hash (an invited user's) matches nothing, after the same work as a real check.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => {
            verify_nothing(password);
            false
        }
    }
}

/// Spends the time of one verification, so an unknown email answers as slowly as a
/// wrong password and the timing does not reveal which accounts exist.
pub fn verify_nothing(password: &str) {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("decoy password for timing").unwrap_or_default());
    if let Ok(parsed) = PasswordHash::new(decoy) {
        let _ = Argon2::default().verify_password(password.as_bytes(), &parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let email = "grace@example.com";
        assert_eq!(
            check_policy("short", email),
            Err("must be at least 10 characters")
        );
        assert_eq!(
            check_policy("grace@example.com", email),
            Err("must not contain your email address")
        );
        assert_eq!(
            check_policy("xxgracexx123", email),
            Err("must not contain your email address")
        );
        assert_eq!(check_policy("Password123", email), Err("is too common"));
        assert_eq!(
            check_policy("aaaaaaaaaaaa", email),
            Err("must not be one repeated character")
        );
        assert!(check_policy("correct horse battery", email).is_ok());
        assert!(check_policy(&"x".repeat(129), email).is_err());
    }

    #[test]
    fn hashes_verify() {
        let stored = hash("correct horse battery").expect("hashes");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("wrong horse battery", &stored));
        assert!(!verify("anything", "not a phc string"));
    }
}
