//! Bearer tokens: every way a token can be wrong.

use mosaic::auth::{Claims, Role};
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;

both_backends!(
    bad_tokens_are_refused,
    admin_api_is_for_platform_admins,
    rotated_out_secrets_still_verify
);

/// `header.payload.signature` with the given `alg` header, signed with HMAC-SHA512
/// under the host's own secret when `alg` is HS512, left unsigned otherwise.
fn token_with_alg(alg: &str, claims: &Claims) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
    let payload = b64(serde_json::to_string(claims).expect("claims").as_bytes());
    let signature = if alg == "HS512" {
        let mut mac =
            hmac::Hmac::<sha2::Sha512>::new_from_slice(b"integration-test-secret").expect("key");
        mac.update(format!("{header}.{payload}").as_bytes());
        b64(&mac.finalize().into_bytes())
    } else {
        String::new()
    };
    format!("{header}.{payload}.{signature}")
}

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

    let forged = mosaic::auth::JwtKeys::new(b"not-the-host-secret")
        .issue(&Claims::new(
            "u".into(),
            Some(demo.clone()),
            Role::TenantAdmin,
            600,
        ))
        .expect("sign");
    get(forged).await.expect_error(401, "unauthorized");

    let mut expired = Claims::new("u".into(), Some(demo.clone()), Role::TenantAdmin, 600);
    expired.iat -= 7200;
    expired.exp = expired.iat + 60;
    let expired = get(app.sign(&expired))
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(expired.body["error"], "Token has expired");

    let claims = Claims::new("u".into(), Some(demo.clone()), Role::TenantAdmin, 600);
    get(token_with_alg("none", &claims))
        .await
        .expect_error(401, "unauthorized");
    // The right secret under another algorithm is still refused: HS256 only.
    get(token_with_alg("HS512", &claims))
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

async fn rotated_out_secrets_still_verify(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .with_previous_jwt_secret("last-months-secret")
        .start()
        .await;
    let demo = app.tenant_id("demo").await;
    let claims = Claims::new("u".into(), Some(demo), Role::Member, 600);
    let old = mosaic::auth::JwtKeys::new(b"last-months-secret")
        .issue(&claims)
        .expect("sign");
    app.as_user(Method::GET, "/api/employees/", "demo", &old)
        .send()
        .await
        .expect(200);
    let unknown = mosaic::auth::JwtKeys::new(b"someone-elses-secret")
        .issue(&claims)
        .expect("sign");
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
    mosaic::AppState::build(config)
        .await
        .expect("a production configuration starts");
}
