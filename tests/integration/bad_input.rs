//! Bad input, tried as an attacker would: NUL characters (which PostgreSQL cannot
//! store), bodies of the wrong shape, a tenant named twice or by an absolute-form
//! target, tokens used before they start, page sizes outside the documented range.

use mosaic::auth::{Claims, Role};
use mosaic_tests::{Backend, Resp, TEST_JWT_SECRET, TestApp, both_backends, hmac_token};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(nul_characters_are_bad_input_before_the_database);

const PASSWORD: &str = "correct horse battery";

async fn nul_characters_are_bad_input_before_the_database(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &["employees"])
        .start()
        .await;
    let nul = "wile\u{0}@acme.example";
    let refused = app
        .req(Method::POST, "/api/auth/login")
        .header("x-tenant-id", "acme")
        .json(&json!({"email": nul, "password": PASSWORD}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        refused.body["fields"]["email"],
        "must not contain NUL characters"
    );
    app.req(Method::POST, "/api/admin/auth/login")
        .json(&json!({"email": nul, "password": PASSWORD}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    app.req(Method::POST, "/api/auth/password-reset")
        .header("x-tenant-id", "acme")
        .json(&json!({"email": nul}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    app.req(Method::POST, "/api/demo-requests")
        .json(&json!({"company": "Acme\u{0}", "contact_name": "Wile", "email": "w@acme.example"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let nested = app
        .req(Method::POST, "/api/admin/tenants/bulk-create")
        .bearer(&app.admin_token())
        .json(&json!({"tenants": [{"name": "Nul", "subdomain": "nul", "modules": ["a\u{0}"]}]}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        nested.body["fields"]["tenants[0].modules[0]"],
        "must not contain NUL characters"
    );
    for path in [
        "/api/tenants/by-subdomain/ac%00me/config",
        "/api/tenants/by-subdomain/%00/assets/logo.png",
    ] {
        app.req(Method::GET, path)
            .send()
            .await
            .expect_error(404, "not_found");
    }
    app.req(Method::GET, "/api/admin/tenants/ac%00me")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect_error(404, "not_found");
    // Nothing was stored, and the host still answers.
    let token = app.token("acme", Role::TenantAdmin).await;
    app.as_user(Method::GET, "/api/employees/", "acme", &token)
        .send()
        .await
        .expect(200);
}

/// A body of the wrong shape is answered per field, as the modules answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_routes_answer_shape_errors_per_field() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("acme", &[])
        .start()
        .await;
    let login = |body: Value| {
        app.req(Method::POST, "/api/auth/login")
            .header("x-tenant-id", "acme")
            .json(&body)
            .send()
    };
    let fields = |resp: Resp| resp.expect_error(422, "validation_failed").body["fields"].clone();
    assert_eq!(
        fields(login(json!({"email": "wile@acme.example"})).await),
        json!({"password": "is required"})
    );
    assert_eq!(
        fields(login(json!({"email": 5, "password": PASSWORD})).await),
        json!({"email": "must be a string"})
    );
    assert_eq!(
        fields(
            login(json!({"email": "w@acme.example", "password": PASSWORD, "admin": true})).await
        ),
        json!({"admin": "unknown field"})
    );
    assert_eq!(
        fields(login(json!(["w@acme.example", PASSWORD])).await),
        json!({"body": "must be a JSON object"})
    );
    app.req(Method::POST, "/api/auth/login")
        .header("x-tenant-id", "acme")
        .raw("{\"email\": ")
        .send()
        .await
        .expect_error(400, "bad_request");
    // Found by Schemathesis: this query string was answered in plain text.
    let refused = app
        .req(Method::DELETE, "/api/admin/modules/attendance?purge=maybe")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect_error(400, "bad_request");
    assert_eq!(
        refused.headers["content-type"], "application/json",
        "{}",
        refused.text
    );
}

/// `Host` and `X-Tenant-ID` name one tenant or the request is refused; an
/// absolute-form target's authority is the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_is_named_once() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_base_domain("mosaic.test")
        .with_tenant("acme", &["employees"])
        .with_tenant("beta", &["employees"])
        .start()
        .await;
    let token = app.token("acme", Role::Member).await;
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let (status, body) = app
        .raw_request(&format!(
            "GET http://acme.mosaic.test/api/employees/ HTTP/1.1\r\nHost: beta.mosaic.test\r\n{bearer}"
        ))
        .await;
    assert_eq!(status, 200, "acme is the tenant named: {body}");
    let (status, body) = app
        .raw_request(&format!(
            "GET http://beta.mosaic.test/api/employees/ HTTP/1.1\r\nHost: acme.mosaic.test\r\n{bearer}"
        ))
        .await;
    assert_eq!(status, 403, "beta is the tenant named: {body}");
    assert!(body.contains("another tenant"), "{body}");
    for head in [
        "GET /api/employees/ HTTP/1.1\r\nHost: acme.mosaic.test\r\nHost: beta.mosaic.test\r\n",
        "GET /api/employees/ HTTP/1.1\r\nHost: localhost\r\nX-Tenant-ID: acme\r\nX-Tenant-ID: acme\r\n",
    ] {
        let (status, body) = app.raw_request(&format!("{head}{bearer}")).await;
        assert_eq!(status, 400, "{head}: {body}");
        assert!(body.contains("more than once"), "{body}");
    }
}

/// A token is not taken before its `nbf`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_not_taken_before_they_start() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("acme", &["employees"])
        .start()
        .await;
    let tenant = app.tenant_id("acme").await;
    let claims = |nbf: u64| {
        let mut claims = serde_json::to_value(Claims::new(
            "someone".into(),
            Some(tenant.clone()),
            Role::Member,
            600,
        ))
        .expect("claims");
        claims["nbf"] = json!(nbf);
        hmac_token("HS256", TEST_JWT_SECRET.as_bytes(), &claims)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let early = app
        .as_user(Method::GET, "/api/employees/", "acme", &claims(now + 3600))
        .send()
        .await
        .expect_error(401, "unauthorized");
    assert!(early.text.contains("not valid yet"), "{}", early.text);
    app.as_user(Method::GET, "/api/employees/", "acme", &claims(now - 60))
        .send()
        .await
        .expect(200);
}

/// `?limit=` outside 1–500 is a 422 on `limit`, not quietly clamped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_sizes_outside_the_documented_range_are_refused() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("acme", &["employees"])
        .start()
        .await;
    let token = app.token("acme", Role::Member).await;
    for limit in [0, 501] {
        let refused = app
            .as_user(
                Method::GET,
                &format!("/api/employees/?limit={limit}"),
                "acme",
                &token,
            )
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert_eq!(refused.body["fields"]["limit"], "must be from 1 to 500");
    }
    app.as_user(Method::GET, "/api/employees/?limit=500", "acme", &token)
        .send()
        .await
        .expect(200);
}
