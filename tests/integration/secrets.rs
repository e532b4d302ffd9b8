//! Signing secrets: a host never starts with a secret short enough to guess, and no
//! configuration it accepts lets a token signed with such a key through.

use std::time::Duration;

use mosaic::auth::{Claims, MIN_SECRET_BYTES, Role};
use mosaic_tests::{
    Backend, Replica, TestApp, TestDatabase, both_backends, hmac_token, mosaic_command,
};
use reqwest::Method;
use serde_json::json;

both_backends!(
    weak_secrets_refuse_to_start,
    weak_keys_never_verify,
    weak_keys_never_verify_on_a_production_process
);

const STRONG: &str = "current-signing-secret-of-32-bytes-or-more";
const OLD: &str = "previous-signing-secret-of-32-bytes-or-more";
const OLDER: &str = "an-older-signing-secret-of-32-bytes-or-more";

/// Keys an attacker would try: empty, one byte, one byte short of the minimum, and a
/// short prefix of a real secret.
fn weak_keys() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"x".to_vec(),
        vec![b'k'; MIN_SECRET_BYTES - 1],
        OLD.as_bytes()[..8].to_vec(),
    ]
}

/// `mosaic serve` on `backend` with `env` set (and every secret setting of the test's
/// own environment removed): it must exit with an error saying `expected`, never
/// listen.
async fn refuses_to_start(
    backend: Backend,
    env: &[(&str, &str)],
    data_dir: &std::path::Path,
    expected: &str,
) {
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let mut command = mosaic_command(crate::MOSAIC);
    for name in [
        "MOSAIC_JWT_SECRET",
        "MOSAIC_JWT_SECRET_FILE",
        "MOSAIC_JWT_PREVIOUS_SECRETS",
        "MOSAIC_PRODUCTION",
        "DATABASE_URL",
    ] {
        command.env_remove(name);
    }
    if let Some(db) = &postgres {
        command.env("DATABASE_URL", &db.url);
    }
    command
        .envs(env.iter().copied())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--addr", "127.0.0.1:0", "--no-demo"]);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("with {env:?} the host started instead of refusing"))
        .expect("mosaic runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "with {env:?} the host started");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains(expected),
        "with {env:?} expected {expected:?} in: {stderr}"
    );
}

async fn weak_secrets_refuse_to_start(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let trailing_comma = format!("{OLD},");
    let double_comma = format!("{OLD},,{OLDER}");
    let one_short = "k".repeat(MIN_SECRET_BYTES - 1);
    let production = [("MOSAIC_PRODUCTION", "true"), ("MOSAIC_JWT_SECRET", STRONG)];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("MOSAIC_JWT_PREVIOUS_SECRETS", "")],
            "previous JWT secret 1 of 1 is empty",
        ),
        (
            vec![("MOSAIC_JWT_PREVIOUS_SECRETS", &trailing_comma)],
            "previous JWT secret 2 of 2 is empty",
        ),
        (
            vec![("MOSAIC_JWT_PREVIOUS_SECRETS", &double_comma)],
            "previous JWT secret 2 of 3 is empty",
        ),
        (
            vec![("MOSAIC_JWT_PREVIOUS_SECRETS", "x")],
            "previous JWT secret 1 of 1 is 1 bytes",
        ),
        (
            vec![("MOSAIC_JWT_PREVIOUS_SECRETS", &one_short)],
            "is 31 bytes; every secret needs at least 32 bytes",
        ),
    ];
    for (extra, expected) in cases {
        let env: Vec<_> = production.iter().copied().chain(extra).collect();
        refuses_to_start(backend, &env, data, expected).await;
        // The same list is refused in development too.
        refuses_to_start(backend, &env[1..], data, expected).await;
    }

    refuses_to_start(
        backend,
        &[("MOSAIC_PRODUCTION", "true")],
        data,
        "production needs MOSAIC_JWT_SECRET",
    )
    .await;
    refuses_to_start(
        backend,
        &[
            ("MOSAIC_PRODUCTION", "true"),
            ("MOSAIC_JWT_SECRET", &one_short),
        ],
        data,
        "the JWT signing secret is 31 bytes",
    )
    .await;
    refuses_to_start(
        backend,
        &[("MOSAIC_JWT_SECRET", "")],
        data,
        "the JWT signing secret is empty",
    )
    .await;
    refuses_to_start(
        backend,
        &[("MOSAIC_JWT_SECRET", "dev")],
        data,
        "the JWT signing secret is 3 bytes",
    )
    .await;

    let file = data.join("secret.txt");
    std::fs::write(&file, " \n").expect("secret file");
    let file = file.to_str().expect("utf-8 path");
    refuses_to_start(
        backend,
        &[("MOSAIC_JWT_SECRET_FILE", file)],
        data,
        "the JWT signing secret is empty",
    )
    .await;

    // The development secret kept in the data dir is held to the same rule.
    std::fs::write(data.join("jwt-secret"), "abc\n").expect("kept secret");
    refuses_to_start(backend, &[], data, "the JWT signing secret is 3 bytes").await;
    refuses_to_start(backend, &[], data, "jwt-secret").await;
}

/// Against a running host: every weak key is refused on tenant and platform routes,
/// while a token signed with a configured secret goes through.
async fn assert_only_strong_keys_verify(
    client: &reqwest::Client,
    url: impl Fn(&str) -> String,
    (subdomain, tenant_id): (&str, String),
    good: &str,
) {
    let get = |path: &str, token: &str| {
        client
            .get(url(path))
            .header("x-tenant-id", subdomain)
            .bearer_auth(token)
            .send()
    };
    for path in ["/api/admin/tenants", "/api/employees/"] {
        assert_eq!(get(path, good).await.expect("sent").status(), 200, "{path}");
    }

    let platform = Claims::new("attacker".into(), None, Role::SuperAdmin, 600);
    let tenant_admin = Claims::new("attacker".into(), Some(tenant_id), Role::TenantAdmin, 600);
    for key in weak_keys() {
        for (claims, path) in [
            (&platform, "/api/admin/tenants"),
            (&platform, "/api/employees/"),
            (&tenant_admin, "/api/employees/"),
            (&tenant_admin, "/api/users/"),
        ] {
            let forged = hmac_token("HS256", &key, claims);
            let response = get(path, &forged).await.expect("sent");
            assert_eq!(
                response.status(),
                401,
                "a token signed with a {}-byte key on {path}",
                key.len()
            );
            let body: serde_json::Value = response.json().await.expect("json error");
            assert_eq!(body["code"], "unauthorized");
        }
        let forged = hmac_token("HS256", &key, &platform);
        let created = client
            .post(url("/api/admin/tenants"))
            .bearer_auth(&forged)
            .json(&json!({"name": "Forged", "subdomain": "forged"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), 401);
    }
}

/// Every configuration the in-process host accepts: a generated development secret,
/// an explicit one with a previous one, and production with two previous ones.
async fn weak_keys_never_verify(backend: Backend) {
    for (label, builder, good_key) in [
        (
            "generated",
            TestApp::builder(backend).with_jwt_secret(None),
            None,
        ),
        (
            "development with a previous secret",
            TestApp::builder(backend)
                .with_jwt_secret(Some(STRONG))
                .with_previous_jwt_secret(OLD),
            Some(OLD),
        ),
        (
            "production with two previous secrets",
            TestApp::builder(backend)
                .in_production()
                .with_jwt_secret(Some(STRONG))
                .with_previous_jwt_secret(OLD)
                .with_previous_jwt_secret(OLDER),
            Some(OLDER),
        ),
    ] {
        let app = builder.with_tenant("demo", &[]).start().await;
        // A token from the host's own keys, or signed with a rotated-out secret.
        let claims = Claims::new("platform-admin".into(), None, Role::SuperAdmin, 600);
        let good = match good_key {
            Some(key) => hmac_token("HS256", key.as_bytes(), &claims),
            None => app.sign(&claims),
        };
        eprintln!("configuration: {label}");
        let tenant = ("demo", app.tenant_id("demo").await);
        assert_only_strong_keys_verify(&app.client, |p| app.url(p), tenant, &good).await;
        app.req(Method::GET, "/api/admin/tenants")
            .bearer(&app.admin_token())
            .send()
            .await
            .expect(200);
    }
}

/// The same through the command line as an operator runs it: production, the secret
/// from a file, previous secrets from the environment.
async fn weak_keys_never_verify_on_a_production_process(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let file = dir.path().join("secret.txt");
    std::fs::write(&file, format!("{STRONG}\n")).expect("secret file");
    let mut command = mosaic_command(crate::MOSAIC);
    command
        .env_remove("MOSAIC_JWT_SECRET")
        .env_remove("DATABASE_URL")
        .env("MOSAIC_PRODUCTION", "true")
        .env("MOSAIC_JWT_SECRET_FILE", &file)
        .env("MOSAIC_JWT_PREVIOUS_SECRETS", format!("{OLD},{OLDER}"))
        .args(["serve", "--addr", "127.0.0.1:0", "--no-demo"]);
    if let Some(db) = &postgres {
        command.env("DATABASE_URL", &db.url);
    }
    let host = Replica::spawn(command, dir).await;
    let client = reqwest::Client::new();
    let admin = |key: &str| {
        hmac_token(
            "HS256",
            key.as_bytes(),
            &Claims::new("platform-admin".into(), None, Role::SuperAdmin, 600),
        )
    };
    let created = client
        .post(host.url("/api/admin/tenants"))
        .bearer_auth(admin(STRONG))
        .json(&json!({"name": "Demo", "subdomain": "demo"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    let tenant = ("demo", created["id"].as_str().expect("id").to_owned());
    assert_only_strong_keys_verify(&client, |p| host.url(p), tenant, &admin(OLD)).await;
}

/// `mosaic token issue` signs with the same keys, so it holds them to the same rule.
#[tokio::test]
async fn token_issue_refuses_a_weak_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issue = |secret: &str| {
        mosaic_command(crate::MOSAIC)
            .env_remove("MOSAIC_JWT_PREVIOUS_SECRETS")
            .env_remove("MOSAIC_PRODUCTION")
            .env("MOSAIC_JWT_SECRET", secret)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["token", "issue", "--platform-admin"])
            .output()
    };
    let weak = issue("short").await.expect("mosaic runs");
    assert!(!weak.status.success());
    assert!(weak.stdout.is_empty(), "no token printed");
    let stderr = String::from_utf8_lossy(&weak.stderr);
    assert!(
        stderr.contains("the JWT signing secret is 5 bytes"),
        "{stderr}"
    );

    let strong = issue(STRONG).await.expect("mosaic runs");
    assert!(
        strong.status.success(),
        "{}",
        String::from_utf8_lossy(&strong.stderr)
    );
    let token = String::from_utf8(strong.stdout).expect("utf-8");
    let keys = mosaic::auth::JwtKeys::new(STRONG.as_bytes(), &[]).expect("strong secret");
    let claims = keys
        .verify(token.trim())
        .expect("a token signed with the secret");
    assert!(claims.is_platform_admin());
}
