//! A module upgraded and rolled back under load (BENCHMARKS.md (i)): `greeter`
//! 1.0.0 serves two tenants under a closed-loop load; 2.0.0 is uploaded (compiled
//! from an empty artifact cache) and granted, then rolled back to 1.0.0. Prints the
//! failed requests (the target is none), how long each step took, and the latency
//! in the second after each swap against the steady state before the first.
//!
//! `cargo run --release -p mosaic-tests --bin hot-upgrade -- [sqlite|postgres] [workers] [steady-seconds]`

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::load::{Load, Sample};
use mosaic_tests::{Backend, TestApp, wasm};
use reqwest::Method;
use serde_json::{Value, json};

use self::Body::{Json, Upload};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = match args.first().map(String::as_str) {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let workers: usize = args.get(1).map_or(16, |n| n.parse().expect("workers"));
    let steady = Duration::from_secs(args.get(2).map_or(3, |n| n.parse().expect("seconds")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let cache = tempfile::tempdir().expect("cache dir");
        let app = TestApp::builder(backend)
            .with_tenant_rate_limit(None)
            .with_cache_dir(cache.path().to_owned())
            .with_tenant("demo", &[])
            .with_tenant("acme", &[])
            .start()
            .await;
        admin(&app, Method::POST, "/api/admin/modules", Upload("greeter")).await;
        admin(&app, Method::PUT, "/api/admin/modules/greeter/grant", Json(json!({"all": true}))).await;
        for tenant in ["demo", "acme"] {
            let path = format!("/api/admin/tenants/{tenant}/modules/greeter");
            admin(&app, Method::POST, &path, Json(json!({"enabled": true}))).await;
        }
        let url = app.url("/api/greeter/");
        let loads: Vec<Load> = futures::future::join_all(["demo", "acme"].map(|tenant| {
            let (app, url) = (&app, &url);
            async move {
                let token = app.token(tenant, Role::Member).await;
                Load::start(url, tenant, &token, workers / 2)
            }
        }))
        .await;
        let started = Instant::now();
        tokio::time::sleep(steady).await;

        let upgrade = Instant::now();
        let upload = timed(admin(&app, Method::POST, "/api/admin/modules", Upload("greeter_next"))).await;
        let grant = timed(admin(
            &app,
            Method::PUT,
            "/api/admin/modules/greeter/grant",
            Json(json!({"all": true})),
        ))
        .await;
        let granted = Instant::now();
        for load in &loads {
            load.until_serving("2.0.0").await;
        }
        let switched = granted.elapsed();
        tokio::time::sleep(steady).await;

        let rollback = Instant::now();
        let rolled = timed(admin(&app, Method::POST, "/api/admin/modules/greeter/rollback", Json(Value::Null))).await;
        for load in &loads {
            load.until_serving("1.0.0").await;
        }
        tokio::time::sleep(steady).await;
        let mut samples: Vec<Sample> = Vec::new();
        for load in loads {
            samples.extend(load.finish().await);
        }

        let errors = samples.iter().filter(|s| s.version.is_none()).count();
        let window = |from: Instant, to: Instant| {
            let mut latencies: Vec<Duration> = samples
                .iter()
                .filter(|s| s.sent >= from && s.sent < to)
                .map(|s| s.latency)
                .collect();
            latencies.sort();
            latencies
        };
        let second = Duration::from_secs(1);
        let before = window(started, upgrade);
        let after_upgrade = window(granted, granted + second);
        let after_rollback = window(rollback, rollback + second);
        println!(
            "{backend:?}, {workers} workers, {} requests, **{errors} failed**",
            samples.len()
        );
        println!(
            "upload of 2.0.0 (cold compile) {:.0?}, grant (activation) {:.1?}, first 2.0.0 answer on every tenant {:.1?} after the grant, rollback {:.1?}",
            upload, grant, switched, rolled
        );
        println!("| window | requests | p50 | p99 | p99 vs steady |");
        println!("|---|---:|---:|---:|---:|");
        let steady_p99 = percentile(&before, 0.99);
        for (name, latencies) in [
            ("steady, 1.0.0", &before),
            ("1 s after the upgrade's grant", &after_upgrade),
            ("1 s after the rollback", &after_rollback),
        ] {
            let p99 = percentile(latencies, 0.99);
            println!(
                "| {name} | {} | {:.2?} | {:.2?} | {:.2}× |",
                latencies.len(),
                percentile(latencies, 0.5),
                p99,
                p99.as_secs_f64() / steady_p99.as_secs_f64()
            );
        }
        assert_eq!(errors, 0, "requests failed across the swaps");
    });
}

/// An admin call's body: a guest's component, or JSON.
enum Body {
    Upload(&'static str),
    Json(Value),
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Body) {
    let req = app.req(method, path).bearer(&app.admin_token());
    let req = match body {
        Upload(name) => req
            .header("content-type", "application/wasm")
            .raw_bytes(std::fs::read(wasm(name)).expect("the guest is built")),
        Json(body) => req.json(&body),
    };
    let resp = req.send().await;
    assert!(resp.status.is_success(), "{path}: {}", resp.text);
}

async fn timed(call: impl std::future::Future<Output = ()>) -> Duration {
    let started = Instant::now();
    call.await;
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
