//! What anyone may send without a token, tried as an attacker would: throttles per
//! client address, lockouts that lock out only the guesser, the client address
//! behind trusted proxies. (Bad input is `bad_input.rs`.)

use mosaic::auth::Role;
use mosaic::config::RateLimit;
use mosaic_tests::{Backend, Resp, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(
    anonymous_requests_do_not_spend_a_tenants_quota,
    password_attempts_are_throttled_per_client_and_tenant,
    a_guesser_locks_out_only_its_own_address,
    sign_ups_are_throttled_per_client,
    public_pages_of_inactive_tenants_answer_as_unknown
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

    // Housekeeping forgets counts that went quiet, never a lock still running.
    login(&app, "acme", "198.51.100.8", "wrong password!")
        .await
        .expect_error(401, "unauthorized");
    let db = &app.state.db;
    let now = mosaic::store::now_ms();
    assert_eq!(
        db.forget_login_failures(now + 1, now)
            .await
            .expect("forget"),
        1
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT client FROM login_failures")
        .fetch_all(&db.pool)
        .await
        .expect("rows");
    assert_eq!(left, [guesser], "the lock stays");
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
