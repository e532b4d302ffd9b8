//! Event delivery latency (BENCHMARKS.md (f)): from the emitting request's commit to
//! the subscriber's `on-event`, on the real host with the relay test module.
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
        let mut latencies: Vec<u64> = received
            .as_array()
            .expect("a list")
            .iter()
            .map(|e: &Value| {
                let at = |field: &str| e[field].as_u64().expect("a timestamp");
                at("received_at").saturating_sub(at("occurred_at"))
            })
            .collect();
        latencies.sort_unstable();
        let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        println!("| backend | events | pace | median | p99 | max |");
        println!("|---|---:|---:|---:|---:|---:|");
        println!(
            "| {backend:?} | {} | {} ms | {} ms | {} ms | {} ms |",
            latencies.len(),
            pace.as_millis(),
            pick(0.5),
            pick(0.99),
            latencies.last().copied().unwrap_or_default()
        );
    });
}
