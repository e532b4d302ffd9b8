//! Event delivery latency (BENCHMARKS.md (f)): from the emitting request's commit to
//! the subscriber's `on-event`, on the real host with the relay test module; and the
//! whole path of a notification, from an employee's update to the user's inbox.
//!
//! Each event is emitted by a request of its own, one every `pace` ms (open loop),
//! and the relay records when it received it. The latency of one event is the
//! relay's clock at `on-event` minus the event's `occurred_at`, set in the emitting
//! request just before its commit, so it covers the commit, the wake-up, the claim
//! and the call.
//!
//! `cargo run --release -p mosaic-tests --bin event-latency -- [sqlite|postgres] [events] [pace ms]`

use std::time::Duration;

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = match args.first().map(String::as_str) {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let events: usize = args.get(1).map_or(300, |n| n.parse().expect("event count"));
    let pace = Duration::from_millis(args.get(2).map_or(10, |n| n.parse().expect("pace in ms")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let app = TestApp::builder(backend)
            .with_guest("relay")
            .with_tenant("acme", &["relay"])
            .with_tenant_rate_limit(None)
            .start()
            .await;
        let token = app.token("acme", Role::TenantAdmin).await;
        let mut tick = tokio::time::interval(pace);
        for n in 0..events {
            tick.tick().await;
            app.as_user(Method::POST, "/api/relay/emit", "acme", &token)
                .json(&json!([{"kind": "relay.timed", "data": {"n": n}}]))
                .send()
                .await
                .expect(202);
        }
        let received = loop {
            let got = app
                .as_user(Method::GET, "/api/relay/received", "acme", &token)
                .send()
                .await
                .expect(200)
                .body;
            if got.as_array().is_some_and(|a| a.len() >= events.min(500)) {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let relay: Vec<u64> = received
            .as_array()
            .expect("a list")
            .iter()
            .map(|e: &Value| {
                let at = |field: &str| e[field].as_u64().expect("a timestamp");
                at("received_at").saturating_sub(at("occurred_at"))
            })
            .collect();
        let notified = notification_latencies(&app, &token, events.min(100), pace).await;
        println!("| backend | path | events | pace | median | p99 | max |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        for (path, latencies) in [
            ("commit → relay `on-event`", relay),
            ("employee update → notification in the inbox", notified),
        ] {
            let measured = latencies.len();
            let (median, p99, max) = summary(latencies);
            println!(
                "| {backend:?} | {path} | {measured} | {} ms | {median} ms | {p99} ms | {max} ms |",
                pace.as_millis(),
            );
        }
    });
}

/// Median, p99 and max, in ms.
fn summary(mut latencies: Vec<u64>) -> (u64, u64, u64) {
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    (
        pick(0.5),
        pick(0.99),
        latencies.last().copied().unwrap_or_default(),
    )
}

/// The whole path of a notification: a user of the tenant, an employee with their
/// address, then `count` updates of that employee, paced. Each update's
/// `employee.updated` reaches the notifications module, which sends a message the
/// host writes to the inbox. The latency of one is the notification's `at` minus the
/// update's `updated_at` (both the host's clock); events of one source arrive in
/// order, so the n-th notification answers the n-th update.
async fn notification_latencies(
    app: &TestApp,
    admin: &str,
    count: usize,
    pace: Duration,
) -> Vec<u64> {
    let user = app
        .as_user(Method::POST, "/api/users/", "acme", admin)
        .json(&json!({"email": "ada@acme.test", "full_name": "Ada", "role": "MEMBER"}))
        .send()
        .await
        .expect(201)
        .body;
    let tenant_id = app.tenant_id("acme").await;
    let ada = app.sign(&mosaic::auth::Claims::new(
        user["id"].as_str().expect("user id").into(),
        Some(tenant_id),
        Role::Member,
        600,
    ));
    let employee = app
        .as_user(Method::POST, "/api/employees/", "acme", admin)
        .json(&json!({"name": "Ada", "email": "ada@acme.test", "salary": 1, "hired_on": "2026-01-05"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("employee id")
        .to_owned();
    let mut updated_at = Vec::with_capacity(count);
    let mut tick = tokio::time::interval(pace);
    for n in 0..count {
        tick.tick().await;
        let body = app
            .as_user(
                Method::PATCH,
                &format!("/api/employees/{employee}"),
                "acme",
                admin,
            )
            .json(&json!({ "position": format!("P{n}") }))
            .send()
            .await
            .expect(200)
            .body;
        updated_at.push(body["updated_at"].as_u64().expect("updated_at"));
    }
    let notified = loop {
        let page = app
            .as_user(Method::GET, "/api/notifications/?limit=100", "acme", &ada)
            .send()
            .await
            .expect(200)
            .body;
        let mut at: Vec<u64> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|n| n["kind"] == "employee.updated")
            .map(|n| n["at"].as_u64().expect("at"))
            .collect();
        if at.len() >= count {
            at.sort_unstable();
            break at;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    notified
        .iter()
        .zip(&updated_at)
        .map(|(at, updated)| at.saturating_sub(*updated))
        .collect()
}
