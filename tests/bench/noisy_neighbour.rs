//! The noisy-neighbour benchmark (BENCHMARKS.md (e)): a quiet tenant's latency
//! alone, and while another tenant floods a module route, on the real host with the
//! real modules (SQLite). The quiet client is paced (open loop: one request every
//! `1/rate` s, each timed on its own), so a slow answer cannot hide the next ones.
//!
//! - reads: the quiet tenant lists 20 employees, beside a flood of a spinning route
//!   (`/spin`) and of a cheap one (`/fixed`);
//! - writes: the quiet tenant creates employees, beside a flood of requests that
//!   write and then hold their unit of work open (`/write-then-sleep`).
//!
//! `cargo run --release -p mosaic-tests --bin noisy-neighbour -- [flood] [rate] [secs]`
//! flood: concurrent flooding connections (200); rate: quiet requests/s (100);
//! secs: seconds per phase (10).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp};
use reqwest::Method;

const EMPLOYEES: &str = "/api/employees/";

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let flood = args.first().copied().unwrap_or(200) as usize;
    let rate = args.get(1).copied().unwrap_or(100);
    let phase = Duration::from_secs(args.get(2).copied().unwrap_or(10));

    // The host gets the machine's usual runtime; the quiet client and the flood
    // each get a runtime (a thread) of their own, as load generators in other
    // processes would, so the flood's client work cannot delay the quiet timing.
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
        let quiet = Quiet {
            app: &app,
            token: app.token("quiet", Role::TenantAdmin).await,
            created: Arc::new(AtomicU64::new(0)),
        };
        let noisy = app.token("noisy", Role::Member).await;
        for _ in 0..20 {
            assert!(quiet.request(true).await.is_some(), "seeding an employee");
        }
        println!("| scenario | quiet p50 | quiet p99 | p99 vs alone | quiet failures |");
        println!("|---|---:|---:|---:|---:|");
        for (writes, floods) in [
            (
                false,
                ["GET /api/testbed/spin", "GET /api/testbed/fixed"].as_slice(),
            ),
            (
                true,
                ["POST /api/testbed/write-then-sleep?ms=1900"].as_slice(),
            ),
        ] {
            let what = if writes { "writes" } else { "reads" };
            let alone = quiet.paced(writes, rate, phase).await;
            report(&format!("quiet tenant {what} alone"), &alone, &alone);
            for route in floods {
                let stop = Instant::now() + phase + Duration::from_secs(1);
                let flooders: Vec<_> = (0..flood)
                    .map(|_| flooding.spawn(hammer(app.url(""), route, noisy.clone(), stop)))
                    .collect();
                tokio::time::sleep(Duration::from_millis(500)).await;
                let under = quiet.paced(writes, rate, phase).await;
                report(
                    &format!("quiet {what}, {flood} connections flooding `{route}`"),
                    &under,
                    &alone,
                );
                for flooder in flooders {
                    flooder.await.expect("flooder");
                }
            }
        }
    });
}

/// Requests `route` ("METHOD /path") as the noisy tenant, back to back, until `stop`.
async fn hammer(base: String, route: &str, token: String, stop: Instant) {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let client = reqwest::Client::new();
    while Instant::now() < stop {
        let sent = client
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(&token)
            .header("X-Tenant-ID", "noisy")
            .send()
            .await;
        if let Ok(response) = sent {
            let _ = response.bytes().await;
        }
    }
}

/// The quiet tenant's client.
struct Quiet<'a> {
    app: &'a TestApp,
    token: String,
    created: Arc<AtomicU64>,
}

/// The latencies of a phase's successful requests, sorted, and how many failed.
struct Phase {
    latencies: Vec<Duration>,
    failures: usize,
}

impl Quiet<'_> {
    /// One request (a list, or a new employee); its latency if it succeeded.
    fn request(&self, write: bool) -> impl Future<Output = Option<Duration>> + use<> {
        let client = self.app.client.clone();
        let (url, token) = (self.app.url(EMPLOYEES), self.token.clone());
        let n = self.created.fetch_add(u64::from(write), Ordering::Relaxed);
        async move {
            let started = Instant::now();
            let request = if write {
                client.post(url).json(&serde_json::json!({
                    "name": format!("Employee {n}"), "email": format!("e{n}@quiet.example"),
                    "department": "Ops", "position": "Engineer", "salary": 400_000, "hired_on": "2024-01-15",
                }))
            } else {
                client.get(url)
            };
            let response = request
                .bearer_auth(token)
                .header("X-Tenant-ID", "quiet")
                .send()
                .await
                .ok()?;
            let ok = response.status().is_success();
            let _ = response.bytes().await;
            ok.then(|| started.elapsed())
        }
    }

    /// One request every `1/rate` s for `phase`.
    async fn paced(&self, write: bool, rate: u64, phase: Duration) -> Phase {
        let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
        let end = Instant::now() + phase;
        let mut requests = Vec::new();
        while Instant::now() < end {
            ticks.tick().await;
            requests.push(tokio::spawn(self.request(write)));
        }
        let mut latencies = Vec::with_capacity(requests.len());
        let mut failures = 0;
        for request in requests {
            match request.await.expect("quiet request task") {
                Some(latency) => latencies.push(latency),
                None => failures += 1,
            }
        }
        latencies.sort();
        Phase {
            latencies,
            failures,
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn report(scenario: &str, phase: &Phase, alone: &Phase) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p99 = percentile(&phase.latencies, 0.99);
    println!(
        "| {scenario} | {:.2} ms | {:.2} ms | {:.2}× | {} |",
        ms(percentile(&phase.latencies, 0.50)),
        ms(p99),
        ms(p99) / ms(percentile(&alone.latencies, 0.99)),
        phase.failures,
    );
}
