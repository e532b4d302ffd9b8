//! Bearer tokens: every way a token can be wrong.

use mosaic::auth::{Claims, Role};
use mosaic_tests::{Backend, TEST_JWT_SECRET, TestApp, both_backends, hmac_token};
use reqwest::Method;

both_backends!(
    bad_tokens_are_refused,
    admin_api_is_for_platform_admins,
    rotated_out_secrets_still_verify
);

async fn bad_tokens_are_refused(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .with_tenant("acme", &[])
        .start()
        .await;
    let demo = app.tenant_id("demo").await;
    let get = |token: String| {
        let req = app
            .req(Method::GET, "/api/employees/")
            .header("x-tenant-id", "demo");
        async move { req.bearer(&token).send().await }
    };

    app.req(Method::GET, "/api/employees/")
        .header("x-tenant-id", "demo")
        .send()
        .await
        .expect_error(401, "unauthorized");

    let forged = hmac_token(
        "HS256",
        b"not-the-host-secret-but-just-as-long",
        &Claims::new("u".into(), Some(demo.clone()), Role::TenantAdmin, 600),
    );
    get(forged).await.expect_error(401, "unauthorized");

    let mut expired = Claims::new("u".into(), Some(demo.clone()), Role::TenantAdmin, 600);
    expired.iat -= 7200;
    expired.exp = expired.iat + 60;
    let expired = get(app.sign(&expired))
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(expired.body["error"], "Token has expired");

    let claims = Claims::new("u".into(), Some(demo.clone()), Role::TenantAdmin, 600);
    get(hmac_token("none", b"", &claims))
        .await
        .expect_error(401, "unauthorized");
    // The right secret under another algorithm is still refused: HS256 only.
    get(hmac_token("HS512", TEST_JWT_SECRET.as_bytes(), &claims))
        .await
        .expect_error(401, "unauthorized");

    get("not.a.jwt".into())
        .await
        .expect_error(401, "unauthorized");
    get(String::new()).await.expect_error(401, "unauthorized");

    let acme = app.token("acme", Role::TenantAdmin).await;
    get(acme).await.expect_error(403, "forbidden");

    // A platform admin may act on any tenant.
    get(app.admin_token()).await.expect(200);
}

async fn admin_api_is_for_platform_admins(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let body = serde_json::json!({"name": "New Co", "subdomain": "newco"});

    app.req(Method::POST, "/api/admin/tenants")
        .json(&body)
        .send()
        .await
        .expect_error(401, "unauthorized");

    let tenant_admin = app.token("demo", Role::TenantAdmin).await;
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&tenant_admin)
        .json(&body)
        .send()
        .await
        .expect_error(403, "forbidden");

    app.req(Method::GET, "/api/admin/slots")
        .bearer(&tenant_admin)
        .send()
        .await
        .expect_error(403, "forbidden");
}

const LAST_MONTHS_SECRET: &str = "last-months-secret-of-32-bytes-or-more";

async fn rotated_out_secrets_still_verify(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .with_previous_jwt_secret(LAST_MONTHS_SECRET)
        .start()
        .await;
    let demo = app.tenant_id("demo").await;
    let claims = Claims::new("u".into(), Some(demo), Role::Member, 600);
    let old = hmac_token("HS256", LAST_MONTHS_SECRET.as_bytes(), &claims);
    app.as_user(Method::GET, "/api/employees/", "demo", &old)
        .send()
        .await
        .expect(200);
    let unknown = hmac_token("HS256", b"someone-elses-secret-just-as-long", &claims);
    app.as_user(Method::GET, "/api/employees/", "demo", &unknown)
        .send()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn production_refuses_development_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = mosaic::Config::new(dir.path());
    config.production = true;
    let no_secret = mosaic::AppState::build(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        no_secret.to_string().contains("MOSAIC_JWT_SECRET"),
        "{no_secret}"
    );
    config.jwt_secret = Some("too short".into());
    assert!(mosaic::AppState::build(config.clone()).await.is_err());
    config.jwt_secret = Some("x".repeat(48));
    config.seed_demo = true;
    let demo = mosaic::AppState::build(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(demo.to_string().contains("development"), "{demo}");
    config.seed_demo = false;
    // A key generated beside the database would be no secret from its readers.
    let no_audit_key = mosaic::AppState::build(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        no_audit_key.to_string().contains("MOSAIC_AUDIT_KEY"),
        "{no_audit_key}"
    );
    assert!(!dir.path().join("audit-key").exists());
    config.audit_key = Some("a".repeat(40));
    mosaic::AppState::build(config)
        .await
        .expect("a production configuration starts");
}

/// A JSON body over the request limit (1 MiB by default, as documented) is a 413
/// that names the limit, before anything reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_json_body_is_refused_with_the_limit() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let email = "x".repeat(1_100_000);
    let refused = app
        .req(Method::POST, "/api/admin/auth/login")
        .json(&serde_json::json!({"email": email, "password": "whatever"}))
        .send()
        .await
        .expect_error(413, "payload_too_large");
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("1048576")),
        "{}",
        refused.text
    );
}
