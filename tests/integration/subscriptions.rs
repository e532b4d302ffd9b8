//! Subscriptions (issue #13, item 2): a new tenant starts a trial of the default
//! plan, and time moves subscriptions on (trial → expired, active → past due →
//! expired, cancelled → expired), once each, audited, on a clock the tests move.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic::clock::Clock;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(a_new_tenant_starts_a_trial, time_moves_subscriptions_on);

/// Monday 2026-01-05, 12:00 UTC.
const START_MS: i64 = 1_767_614_400_000;
const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;

async fn create(app: &TestApp, subdomain: &str) {
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&app.admin_token())
        .json(&json!({"name": subdomain, "subdomain": subdomain}))
        .send()
        .await
        .expect(201);
}

async fn subscription(app: &TestApp, tenant: &str) -> Value {
    let token = app.token(tenant, Role::TenantAdmin).await;
    app.as_user(Method::GET, "/api/billing/subscription", tenant, &token)
        .send()
        .await
        .expect(200)
        .body
}

async fn wait_for_state(app: &TestApp, tenant: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let found = subscription(app, tenant).await;
        if found["state"] == state {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{tenant} never became {state}: {found}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Puts a tenant's subscription in `state`, paid until `period_end`: what a payment
/// or a cancellation will do.
async fn set_subscription(app: &TestApp, tenant: &str, state: &str, period_end: i64) {
    let id = app.tenant_id(tenant).await;
    sqlx::query("UPDATE subscriptions SET state = $1, period_end = $2 WHERE tenant_id = $3")
        .bind(state)
        .bind(period_end)
        .bind(&id)
        .execute(&app.state.db.pool)
        .await
        .expect("subscription set");
}

async fn a_new_tenant_starts_a_trial(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend).with_clock(&clock).start().await;
    create(&app, "acme").await;
    let found = subscription(&app, "acme").await;
    assert_eq!(found["state"], "trial");
    assert_eq!(found["plan"]["key"], "starter");
    assert_eq!(found["trial_ends_at"], START_MS + 14 * DAY_MS);
    assert_eq!(found["days_left"], 14);
    clock.advance(DAY / 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        subscription(&app, "acme").await["days_left"],
        14,
        "rounded up"
    );

    // Tenant admins only.
    let member = app.token("acme", Role::Member).await;
    app.as_user(Method::GET, "/api/billing/subscription", "acme", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    // The default plan cannot be retired.
    app.req(Method::POST, "/api/admin/plans/starter/retire")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect_error(409, "conflict");
}

async fn time_moves_subscriptions_on(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend).with_clock(&clock).start().await;
    for tenant in ["trying", "paying", "leaving"] {
        create(&app, tenant).await;
    }
    set_subscription(&app, "paying", "active", START_MS + 30 * DAY_MS).await;
    set_subscription(&app, "leaving", "cancelled", START_MS + 10 * DAY_MS).await;

    clock.advance(DAY * 11);
    wait_for_state(&app, "leaving", "expired").await;
    assert_eq!(subscription(&app, "trying").await["state"], "trial");
    assert_eq!(subscription(&app, "paying").await["days_left"], 19);

    clock.advance(DAY * 4);
    let expired = wait_for_state(&app, "trying", "expired").await;
    assert_eq!(expired["days_left"], 0);

    clock.advance(DAY * 16);
    let late = wait_for_state(&app, "paying", "past_due").await;
    assert_eq!(late["grace_ends_at"], START_MS + 37 * DAY_MS);
    assert_eq!(late["days_left"], 6);
    clock.advance(DAY * 7);
    wait_for_state(&app, "paying", "expired").await;

    // Each move once, in the audit log.
    let audit = app
        .req(
            Method::GET,
            "/api/admin/audit?action=subscription.&limit=50",
        )
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    let mut moves: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| {
            (
                row["action"].as_str().unwrap_or_default().to_owned(),
                row["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    moves.sort();
    assert_eq!(
        moves,
        [
            ("subscription.expire".to_owned(), "billing".to_owned()),
            ("subscription.expire".to_owned(), "billing".to_owned()),
            ("subscription.expire".to_owned(), "billing".to_owned()),
            ("subscription.past_due".to_owned(), "billing".to_owned()),
        ]
    );
}

/// A sign-up's trial runs from its approval, not from its request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_trial_starts_at_approval() {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(Backend::Sqlite)
        .with_clock(&clock)
        .start()
        .await;
    app.req(Method::POST, "/api/auth/register")
        .json(&json!({
            "company_name": "Initech", "subdomain": "initech", "full_name": "Peter Gibbons",
            "email": "peter@initech.example", "password": "correct horse battery"
        }))
        .send()
        .await
        .expect(201);
    clock.advance(DAY * 20);
    app.req(Method::POST, "/api/admin/tenants/initech/approve")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200);
    let found = subscription(&app, "initech").await;
    assert_eq!(found["state"], "trial", "{found}");
    assert_eq!(found["trial_ends_at"], START_MS + 34 * DAY_MS);
}
