//! The integration-test harness: a real `mosaic` host on 127.0.0.1:0 with the real
//! Wasm modules from `target/wasm32-wasip2/release` and a real database (SQLite in a
//! temporary directory, or a fresh PostgreSQL database dropped afterwards).

use std::path::PathBuf;

pub use mosaic;

mod app;
mod builder;
mod database;
pub mod load;
mod process;
mod request;

pub use app::TestApp;
pub use builder::TestAppBuilder;
pub use database::TestDatabase;
pub use process::{Replica, mosaic_command};
pub use request::{Req, Resp};

/// The signing secret of every test host unless a test picks another.
pub const TEST_JWT_SECRET: &str = "integration-test-secret-of-32-bytes-or-more";
/// The key every test host seals its audit rows with.
pub const TEST_AUDIT_KEY: &str = "integration-test-audit-key-of-32-bytes-or-more";

/// The audit key of every test host, to verify their logs with.
pub fn audit_key() -> mosaic::store::AuditKey {
    mosaic::store::AuditKey::new(TEST_AUDIT_KEY.as_bytes()).expect("a long enough key")
}

/// `header.payload.signature` with `alg` in the header: signed with HMAC under `key`
/// for HS256 and HS512, whatever the key's length (as an attacker would sign), and
/// left unsigned for any other `alg`.
pub fn hmac_token(alg: &str, key: &[u8], claims: &impl serde::Serialize) -> String {
    use base64::Engine;
    fn mac<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], input: &str) -> Vec<u8> {
        let mut mac = <M as hmac::Mac>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
    let payload = b64(serde_json::to_string(claims).expect("claims").as_bytes());
    let input = format!("{header}.{payload}");
    let signature = match alg {
        "HS256" => mac::<hmac::Hmac<sha2::Sha256>>(key, &input),
        "HS512" => mac::<hmac::Hmac<sha2::Sha512>>(key, &input),
        _ => Vec::new(),
    };
    format!("{input}.{}", b64(&signature))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A module built by `cargo build-modules`.
pub fn wasm(name: &str) -> PathBuf {
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build-modules` before the tests",
        path.display()
    );
    path
}

/// Runs an async test body once per backend: `sqlite` and `postgres` tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await;
            }
        }
    )*};
}
