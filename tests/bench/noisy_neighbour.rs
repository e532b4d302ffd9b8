//! The noisy-neighbour benchmark (BENCHMARKS.md (e)): a quiet tenant's latency
//! alone, and while another tenant floods a module route, on the real host with the
//! real modules. The quiet client is paced (open loop: one request every
//! `1/rate` s, each timed on its own), so a slow answer cannot hide the next ones.
//!
//! `cargo run --release -p mosaic-tests --bin noisy-neighbour -- [flood] [rate] [secs]`
//! flood: concurrent flooding connections (200); rate: quiet requests/s (100);
//! secs: seconds per phase (10).

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp};
use reqwest::Method;

const QUIET_PATH: &str = "/api/employees/";

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let flood = args.first().copied().unwrap_or(200) as usize;
    let rate = args.get(1).copied().unwrap_or(100);
    let phase = Duration::from_secs(args.get(2).copied().unwrap_or(10));

    // The host gets the machine's usual runtime; the clients get their own, as a
    // load generator in another process would.
    let host = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("host runtime");
    let app = host.block_on(
        TestApp::builder(Backend::Sqlite)
            .with_testbed()
            .with_tenant("quiet", &[])
            .with_tenant("noisy", &["testbed"])
            .with_limits(|l| l.total_instances = 256)
            // The flood reaches the modules, as in the attack; rate limits would
            // turn most of it into cheap 429s.
            .with_tenant_rate_limit(None)
            .start(),
    );
    // The quiet client and the flood each get a runtime (a thread) of their own,
    // so the flood's client work cannot delay the quiet client's timing.
    let runtime = |name| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .expect("client runtime")
    };
    let (clients, flooding) = (runtime("quiet-client"), runtime("flood-client"));
    clients.block_on(async {
        let quiet = app.token("quiet", Role::TenantAdmin).await;
        let noisy = app.token("noisy", Role::Member).await;
        for i in 0..20 {
            let employee = serde_json::json!({
                "name": format!("Employee {i}"), "email": format!("e{i}@quiet.example"),
                "department": "Ops", "position": "Engineer", "salary": 400_000, "hired_on": "2024-01-15",
            });
            app.as_user(Method::POST, QUIET_PATH, "quiet", &quiet)
                .json(&employee)
                .send()
                .await
                .expect(201);
        }
        println!("| scenario | quiet p50 | quiet p99 | p99 vs alone |");
        println!("|---|---:|---:|---:|");
        let alone = paced(&app, &quiet, rate, phase).await;
        report("quiet tenant alone", &alone, &alone);
        for route in ["/api/testbed/spin", "/api/testbed/fixed"] {
            let stop = Instant::now() + phase + Duration::from_secs(1);
            let flooders: Vec<_> = (0..flood)
                .map(|_| flooding.spawn(hammer(app.url(route), noisy.clone(), stop)))
                .collect();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let under = paced(&app, &quiet, rate, phase).await;
            report(&format!("{flood} connections flooding `{route}`"), &under, &alone);
            for flooder in flooders {
                flooder.await.expect("flooder");
            }
        }
    });
}

/// Requests `route` as the noisy tenant, back to back, until `stop`.
async fn hammer(url: String, token: String, stop: Instant) {
    let client = reqwest::Client::new();
    while Instant::now() < stop {
        let sent = client
            .get(&url)
            .bearer_auth(&token)
            .header("X-Tenant-ID", "noisy")
            .send()
            .await;
        if let Ok(response) = sent {
            let _ = response.bytes().await;
        }
    }
}

/// The quiet tenant's latencies, one request every `1/rate` s for `phase`.
async fn paced(app: &TestApp, token: &str, rate: u64, phase: Duration) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let url = app.url(QUIET_PATH);
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let end = Instant::now() + phase;
    let mut requests = Vec::new();
    while Instant::now() < end {
        ticks.tick().await;
        let (client, url, token) = (client.clone(), url.clone(), token.to_owned());
        requests.push(tokio::spawn(async move {
            let started = Instant::now();
            let response = client
                .get(url)
                .bearer_auth(token)
                .header("X-Tenant-ID", "quiet")
                .send()
                .await
                .expect("quiet request");
            assert!(
                response.status().is_success(),
                "quiet request failed: {}",
                response.status()
            );
            let _ = response.bytes().await;
            started.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(requests.len());
    for request in requests {
        latencies.push(request.await.expect("quiet request task"));
    }
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(scenario: &str, latencies: &[Duration], alone: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p99 = percentile(latencies, 0.99);
    println!(
        "| {scenario} | {:.2} ms | {:.2} ms | {:.2}× |",
        ms(percentile(latencies, 0.50)),
        ms(p99),
        ms(p99) / ms(percentile(alone, 0.99)),
    );
}
