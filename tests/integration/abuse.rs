//! What anyone may send without a token, tried as an attacker would: throttles per
//! client address, lockouts that lock out only the guesser, the client address
//! behind trusted proxies, and bad input refused before the database.

use mosaic::auth::{Claims, Role};
use mosaic::config::RateLimit;
use mosaic_tests::{Backend, Resp, TEST_JWT_SECRET, TestApp, both_backends, hmac_token};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    anonymous_requests_do_not_spend_a_tenants_quota,
    password_attempts_are_throttled_per_client_and_tenant,
    a_guesser_locks_out_only_its_own_address,
    sign_ups_are_throttled_per_client,
    public_pages_of_inactive_tenants_answer_as_unknown,
    nul_characters_are_bad_input_before_the_database
);

const PASSWORD: &str = "correct horse battery";
const PROXY: &str = "127.0.0.1/32";

async fn register(app: &TestApp, subdomain: &str, client: &str) -> Resp {
    app.req(Method::POST, "/api/auth/register")
        .header("x-forwarded-for", client)
        .json(&json!({
            "company_name": format!("{subdomain} GmbH"), "subdomain": subdomain,
            "full_name": "Founder", "email": format!("founder@{subdomain}.example"),
            "password": PASSWORD
        }))
        .send()
        .await
}

/// A company signed up and approved, with its founder's password `PASSWORD`.
async fn approved(app: &TestApp, subdomain: &str) {
    register(app, subdomain, "192.0.2.1").await.expect(201);
    crate::accounts::approve(app, subdomain).await.expect(200);
}

async fn login(app: &TestApp, tenant: &str, client: &str, password: &str) -> Resp {
    app.req(Method::POST, "/api/auth/login")
        .header("x-tenant-id", tenant)
        .header("x-forwarded-for", client)
        .json(&json!({"email": format!("founder@{tenant}.example"), "password": password}))
        .send()
        .await
}

async fn anonymous_requests_do_not_spend_a_tenants_quota(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .with_tenant_rate_limit(Some(RateLimit {
            per_second: 1,
            burst: 3,
        }))
        .start()
        .await;
    for _ in 0..10 {
        app.req(Method::GET, "/api/employees/")
            .header("x-tenant-id", "acme")
            .bearer("not-a-token")
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    let token = app.token("acme", Role::Member).await;
    for _ in 0..3 {
        app.as_user(Method::GET, "/api/employees/", "acme", &token)
            .send()
            .await
            .expect(200);
    }
    app.as_user(Method::GET, "/api/employees/", "acme", &token)
        .send()
        .await
        .expect_error(429, "rate_limited");
}

async fn password_attempts_are_throttled_per_client_and_tenant(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_trusted_proxies(&[PROXY])
        .with_anonymous_limits(|limits| limits.sign_ins_per_minute = 3)
        .start()
        .await;
    approved(&app, "acme").await;
    approved(&app, "beta").await;
    let attacker = "198.51.100.66";
    for _ in 0..3 {
        login(&app, "acme", attacker, "wrong password!")
            .await
            .expect_error(401, "unauthorized");
    }
    let refused = login(&app, "acme", attacker, PASSWORD)
        .await
        .expect_error(429, "rate_limited");
    assert!(refused.headers.contains_key("retry-after"));
    // Another tenant, and another client of this one, have their own buckets.
    login(&app, "beta", attacker, PASSWORD).await.expect(200);
    login(&app, "acme", "198.51.100.7", PASSWORD)
        .await
        .expect(200);
    // So do the platform's logins and reset confirmations.
    app.req(Method::POST, "/api/admin/auth/login")
        .header("x-forwarded-for", attacker)
        .json(&json!({"email": "root@platform.example", "password": "wrong password!"}))
        .send()
        .await
        .expect_error(401, "unauthorized");
    for _ in 0..3 {
        app.req(Method::POST, "/api/auth/password-reset/confirm")
            .header("x-forwarded-for", attacker)
            .json(&json!({"token": "guessed", "new_password": "a new password 1"}))
            .send()
            .await
            .expect_error(422, "validation_failed");
    }
    app.req(Method::POST, "/api/auth/password-reset/confirm")
        .header("x-forwarded-for", attacker)
        .json(&json!({"token": "guessed", "new_password": "a new password 1"}))
        .send()
        .await
        .expect_error(429, "rate_limited");
}

async fn a_guesser_locks_out_only_its_own_address(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_trusted_proxies(&[PROXY])
        .start()
        .await;
    approved(&app, "acme").await;
    let guesser = "203.0.113.9";
    for _ in 0..4 {
        login(&app, "acme", guesser, "wrong password!")
            .await
            .expect_error(401, "unauthorized");
    }
    login(&app, "acme", guesser, "wrong password!")
        .await
        .expect_error(423, "account_locked");
    login(&app, "acme", guesser, PASSWORD)
        .await
        .expect_error(423, "account_locked");
    // The owner, from elsewhere, is not locked out.
    login(&app, "acme", "198.51.100.7", PASSWORD)
        .await
        .expect(200);

    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT action, ip FROM audit_log WHERE tenant_id = $1 AND action LIKE 'login.%' ORDER BY seq",
    )
    .bind(app.tenant_id("acme").await)
    .fetch_all(&app.state.db.pool)
    .await
    .expect("audit");
    let seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get::<Option<String>, _>(1).unwrap_or_default()))
        .collect();
    let mut expected: Vec<(String, String)> = (0..4)
        .map(|_| ("login.failure".into(), guesser.into()))
        .collect();
    expected.push(("login.lockout".into(), guesser.into()));
    expected.push(("login.locked".into(), guesser.into()));
    expected.push(("login.success".into(), "198.51.100.7".into()));
    assert_eq!(seen, expected, "the forwarded client is audited");
}

/// A client that is no trusted proxy forwards nothing: its own address counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_anonymous_limits(|limits| limits.sign_ins_per_minute = 2)
        .start()
        .await;
    approved(&app, "acme").await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        login(&app, "acme", client, "wrong password!")
            .await
            .expect_error(401, "unauthorized");
    }
    login(&app, "acme", "198.51.100.3", PASSWORD)
        .await
        .expect_error(429, "rate_limited");
}

async fn sign_ups_are_throttled_per_client(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_trusted_proxies(&[PROXY])
        .with_anonymous_limits(|limits| limits.sign_ups_per_hour = 2)
        .start()
        .await;
    let squatter = "203.0.113.50";
    register(&app, "first", squatter).await.expect(201);
    // A taken subdomain is refused before any password is hashed, and costs no try.
    register(&app, "first", squatter)
        .await
        .expect_error(409, "conflict");
    register(&app, "second", squatter).await.expect(201);
    register(&app, "third", squatter)
        .await
        .expect_error(429, "rate_limited");
    assert!(app.data_dir().join("tenants/first").exists());
    assert!(!app.data_dir().join("tenants/third").exists());
    register(&app, "third", "198.51.100.7").await.expect(201);
}

/// Only valid demo requests cost the sender one of its tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_requests_are_validated_before_they_are_counted() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_anonymous_limits(|limits| limits.demo_requests_per_hour = 1)
        .start()
        .await;
    let send = |email: &str| {
        app.req(Method::POST, "/api/demo-requests")
            .json(&json!({"company": "Acme", "contact_name": "Wile", "email": email}))
            .send()
    };
    send("not an address")
        .await
        .expect_error(422, "validation_failed");
    send("wile@acme.example").await.expect(201);
    send("wile@acme.example")
        .await
        .expect_error(429, "rate_limited");
}

async fn public_pages_of_inactive_tenants_answer_as_unknown(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let config = "/api/tenants/by-subdomain/acme/config";
    app.req(Method::GET, config).send().await.expect(200);
    register(&app, "pending", "192.0.2.1").await.expect(201);
    app.req(Method::POST, "/api/admin/tenants/acme/suspend")
        .bearer(&app.admin_token())
        .json(&json!({"reason": "unpaid"}))
        .send()
        .await
        .expect(200);
    let unknown = app
        .req(Method::GET, "/api/tenants/by-subdomain/nobody/config")
        .send()
        .await
        .expect_error(404, "not_found");
    for tenant in ["acme", "pending"] {
        let answer = app
            .req(
                Method::GET,
                &format!("/api/tenants/by-subdomain/{tenant}/config"),
            )
            .send()
            .await
            .expect_error(404, "not_found");
        assert_eq!(answer.body["error"], unknown.body["error"]);
        assert!(!answer.text.contains("suspend") && !answer.text.contains("pending"));
        app.req(
            Method::GET,
            &format!("/api/tenants/by-subdomain/{tenant}/assets/logo.png"),
        )
        .send()
        .await
        .expect_error(404, "not_found");
    }
}

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

/// A burst of failed logins writes its counters outside any transaction while
/// audit rows are appended in transactions: on SQLite every one of them is still
/// answered and audited, without retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_failures_is_answered_and_audited_in_full() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_anonymous_limits(|limits| limits.sign_ins_per_minute = 1000)
        .start()
        .await;
    approved(&app, "acme").await;
    let attempts: Vec<_> = (0..40)
        .map(|i| {
            tokio::spawn(
                app.req(Method::POST, "/api/auth/login")
                    .header("x-tenant-id", "acme")
                    .json(&json!({"email": "founder@acme.example", "password": format!("guess {i:04}")}))
                    .send(),
            )
        })
        .collect();
    for attempt in attempts {
        let status = attempt.await.expect("joined").status.as_u16();
        assert!(matches!(status, 401 | 423), "{status}");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND action LIKE 'login.%'",
    )
    .bind(app.tenant_id("acme").await)
    .fetch_one(&app.state.db.pool)
    .await
    .expect("audit");
    assert_eq!(audited, 40);
}
