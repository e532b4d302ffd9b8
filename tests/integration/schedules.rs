//! Scheduled work (issue #10): a module's schedules fire once per enabled tenant per
//! period, as system calls, on a clock the tests move by hand; failures are
//! recorded; two replicas fire each firing once.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic::clock::Clock;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    schedules_fire_once_per_enabled_tenant_per_period,
    a_failing_firing_is_recorded_and_the_next_one_still_comes,
    an_expired_tenant_s_periods_pass_without_a_call,
);

/// Monday 2026-01-05, 12:00 UTC.
const START_MS: i64 = 1_767_614_400_000;
const HOUR: Duration = Duration::from_secs(3600);
const HOUR_MS: i64 = 3_600_000;

async fn schedules(app: &TestApp, tenant: &str) -> Vec<Value> {
    let body = app
        .req(
            Method::GET,
            &format!("/api/admin/schedules?tenant={tenant}"),
        )
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn schedule(app: &TestApp, tenant: &str, id: &str) -> Value {
    schedules(app, tenant)
        .await
        .into_iter()
        .find(|s| s["schedule"] == id)
        .unwrap_or_else(|| panic!("{tenant} has no record of {id}"))
}

/// Waits until the scheduler has a record of both clerk schedules for `tenant`.
async fn wait_for_records(app: &TestApp, tenant: &str) {
    let started = Instant::now();
    while schedules(app, tenant).await.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no schedule records for {tenant}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn runs(app: &TestApp, tenant: &str, token: &str) -> Vec<Value> {
    let body = app
        .as_user(Method::GET, "/api/clerk/runs", tenant, token)
        .send()
        .await
        .expect(200)
        .body;
    body.as_array().cloned().unwrap_or_default()
}

/// Waits until `tenant`'s schedule `id` has run `count` times (its record says so).
async fn wait_for_runs(app: &TestApp, tenant: &str, id: &str, count: i64) -> Value {
    let started = Instant::now();
    loop {
        let record = schedule(app, tenant, id).await;
        if record["runs"].as_i64() == Some(count) {
            return record;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{tenant}'s {id} did not run {count} times: {record}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn toggle(app: &TestApp, tenant: &str, enabled: bool) {
    app.req(
        Method::POST,
        &format!("/api/admin/tenants/{tenant}/modules/clerk"),
    )
    .bearer(&app.admin_token())
    .json(&json!({ "enabled": enabled }))
    .send()
    .await
    .expect(200);
}

async fn schedules_fire_once_per_enabled_tenant_per_period(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend)
        .with_guest("clerk")
        .with_clock(&clock)
        .with_tenant("acme", &["clerk"])
        .with_tenant("globex", &["clerk"])
        .with_tenant("initech", &[])
        .start()
        .await;
    wait_for_records(&app, "acme").await;
    wait_for_records(&app, "globex").await;
    assert!(
        schedules(&app, "initech").await.is_empty(),
        "a tenant without the module has no schedules"
    );
    let hourly = schedule(&app, "acme", "hourly").await;
    assert_eq!(hourly["next_at"], START_MS + HOUR_MS);
    // 02:30 UTC (the tenants' zone) the next day.
    let nightly = schedule(&app, "acme", "nightly").await;
    assert_eq!(nightly["next_at"], START_MS + 14 * HOUR_MS + 30 * 60_000);

    // One period: one firing per tenant, as a system call, at the time it was due.
    clock.advance(HOUR);
    wait_for_runs(&app, "acme", "hourly", 1).await;
    wait_for_runs(&app, "globex", "hourly", 1).await;
    let acme = app.token("acme", Role::Member).await;
    let fired = runs(&app, "acme", &acme).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["schedule"], "hourly");
    assert_eq!(fired[0]["fired_at"], START_MS + HOUR_MS);
    assert_eq!(fired[0]["system_call"], true);
    assert_eq!(fired[0]["tenant"], "acme");

    // Half a period: nothing due.
    clock.advance(HOUR / 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(schedule(&app, "acme", "hourly").await["runs"], 1);

    // Three periods at once (the host was down, say): one firing, not three, and the
    // cadence holds.
    clock.advance(HOUR * 3);
    let record = wait_for_runs(&app, "acme", "hourly", 2).await;
    assert_eq!(record["last_fired_at"], START_MS + 2 * HOUR_MS);
    assert_eq!(record["next_at"], START_MS + 5 * HOUR_MS);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(schedule(&app, "acme", "hourly").await["runs"], 2);

    // Switched off for globex: its periods pass without firing; acme's go on.
    toggle(&app, "globex", false).await;
    clock.advance(HOUR);
    wait_for_runs(&app, "acme", "hourly", 3).await;
    let started = Instant::now();
    loop {
        let record = schedule(&app, "globex", "hourly").await;
        assert_eq!(record["runs"], 2, "a disabled module never fires: {record}");
        if record["next_at"].as_i64() > Some(START_MS + 5 * HOUR_MS) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "globex's schedule did not move on: {record}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Back on: nothing fires at once for the periods it missed; the next one does.
    toggle(&app, "globex", true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(schedule(&app, "globex", "hourly").await["runs"], 2);
    clock.advance(HOUR);
    wait_for_runs(&app, "globex", "hourly", 3).await;

    // The nightly cron, read in the tenant's zone.
    clock.advance(HOUR * 10);
    let nightly = wait_for_runs(&app, "acme", "nightly", 1).await;
    assert_eq!(
        nightly["last_fired_at"],
        START_MS + 14 * HOUR_MS + 30 * 60_000
    );
    let kinds: Vec<Value> = runs(&app, "acme", &acme)
        .await
        .iter()
        .map(|r| r["schedule"].clone())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "nightly").count(), 1);
}

async fn a_failing_firing_is_recorded_and_the_next_one_still_comes(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend)
        .with_guest("clerk")
        .with_clock(&clock)
        .with_tenant("acme", &["clerk"])
        .start()
        .await;
    wait_for_records(&app, "acme").await;
    app.req(
        Method::PUT,
        "/api/admin/tenants/acme/modules/clerk/settings",
    )
    .bearer(&app.admin_token())
    .json(&json!({"fail_schedules": true}))
    .send()
    .await
    .expect(200);
    clock.advance(HOUR);
    let record = wait_for_runs(&app, "acme", "hourly", 1).await;
    assert_eq!(record["failures"], 1);
    let error = record["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("failing, as the settings say"), "{error}");
    let token = app.token("acme", Role::Member).await;
    assert!(
        runs(&app, "acme", &token).await.is_empty(),
        "a failed firing's writes are discarded"
    );

    app.req(
        Method::PUT,
        "/api/admin/tenants/acme/modules/clerk/settings",
    )
    .bearer(&app.admin_token())
    .json(&json!({}))
    .send()
    .await
    .expect(200);
    clock.advance(HOUR);
    let record = wait_for_runs(&app, "acme", "hourly", 2).await;
    assert_eq!(record["failures"], 1);
    assert_eq!(record["last_error"], Value::Null);
    assert_eq!(runs(&app, "acme", &token).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_fire_each_firing_once() {
    let clock = Clock::manual(START_MS);
    let tenants = ["t1", "t2", "t3", "t4", "t5", "t6"];
    let mut builder = TestApp::builder(Backend::Postgres)
        .with_guest("clerk")
        .with_clock(&clock);
    for tenant in tenants {
        builder = builder.with_tenant(tenant, &["clerk"]);
    }
    let a = builder.start().await;
    let b = TestApp::builder(Backend::Postgres)
        .with_guest("clerk")
        .with_clock(&clock)
        .replica_of(&a)
        .start()
        .await;
    for tenant in tenants {
        wait_for_records(&a, tenant).await;
    }
    for period in 1..=3 {
        clock.advance(HOUR);
        for tenant in tenants {
            wait_for_runs(&a, tenant, "hourly", period).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for tenant in tenants {
        let token = b.token(tenant, Role::Member).await;
        let fired = runs(&b, tenant, &token).await;
        let mut times: Vec<i64> = fired
            .iter()
            .filter(|r| r["schedule"] == "hourly")
            .map(|r| r["fired_at"].as_i64().unwrap_or_default())
            .collect();
        times.sort_unstable();
        assert_eq!(
            times,
            [1, 2, 3].map(|n| START_MS + n * HOUR_MS),
            "{tenant}: each firing ran once across the two replicas"
        );
    }
}

/// An expired subscription: the tenant's schedules pass their periods without a
/// call, as a module switched off does, and fire again once it is paid.
async fn an_expired_tenant_s_periods_pass_without_a_call(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend)
        .with_guest("clerk")
        .with_clock(&clock)
        .with_tenant("acme", &["clerk"])
        .start()
        .await;
    wait_for_records(&app, "acme").await;
    let tenant_id = app.tenant_id("acme").await;
    let set_state = |state: &'static str| {
        let (app, tenant_id) = (&app, tenant_id.clone());
        async move {
            sqlx::query("UPDATE subscriptions SET state = $1 WHERE tenant_id = $2")
                .bind(state)
                .bind(&tenant_id)
                .execute(&app.state.db.pool)
                .await
                .expect("state set");
            app.state
                .directory
                .refresh(&tenant_id)
                .await
                .expect("refreshed");
        }
    };
    set_state("expired").await;
    clock.advance(HOUR);
    let started = Instant::now();
    loop {
        let record = schedule(&app, "acme", "hourly").await;
        if record["next_at"] == START_MS + 2 * HOUR_MS {
            assert_eq!(record["runs"], 0, "passed without a call: {record}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the period never passed: {record}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set_state("active").await;
    clock.advance(HOUR);
    wait_for_runs(&app, "acme", "hourly", 1).await;
}
