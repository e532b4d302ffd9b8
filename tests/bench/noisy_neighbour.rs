//! The noisy-neighbour benchmark (BENCHMARKS.md (e)): a quiet tenant's latency
//! alone, and while another tenant floods a module route, on the real host with the
//! real modules (SQLite). The quiet client is paced (open loop: one request every
//! `1/rate` s, each timed on its own), so a slow answer cannot hide the next ones.
//!
//! - reads: the quiet tenant lists 20 employees, beside a flood of a spinning route
//!   (`/spin`) and of a cheap one (`/fixed`); then beside a noisy tenant that is
//!   paced too (open loop, so its own queue cannot slow it down): listing its
//!   employees at 10× the quiet rate, and calling `/spin`, which runs to its
//!   deadline, at the quiet rate;
//! - writes: the quiet tenant creates employees, beside a flood of requests that
//!   write and then hold their unit of work open (`/write-then-sleep`).
//!
//! `cargo run --release -p mosaic-tests --bin noisy-neighbour -- [flood] [rate] [secs] [rounds]`
//! flood: concurrent flooding connections (200); rate: quiet requests/s (100);
//! secs: seconds per phase (10); rounds: how often the phases alternate (3). Each
//! figure is the median over the rounds; the ratio compares each flood with the
//! quiet tenant alone in the same round.

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
    let rounds = args.get(3).copied().unwrap_or(3);

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
            // No employee cap: the writes scenario creates about a thousand.
            .on_plan("enterprise")
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
        // Phases alternate, alone then beside each flood, `rounds` times: the
        // machine's noise drifts, and each flood is compared with the quiet
        // tenant alone in the same round.
        let scenarios: [(bool, &[Flood]); 2] = [
            (
                false,
                &[
                    Flood::Hammer("GET /api/testbed/spin"),
                    Flood::Hammer("GET /api/testbed/fixed"),
                    Flood::Paced("GET /api/employees/", 10),
                    Flood::Paced("GET /api/testbed/spin", 1),
                ],
            ),
            (true, &[Flood::Hammer("POST /api/testbed/write-then-sleep?ms=1900")]),
        ];
        let mut results: Vec<(String, Vec<Phase>, Vec<f64>)> = Vec::new();
        for round in 0..rounds {
            for (writes, floods) in scenarios {
                let what = if writes { "writes" } else { "reads" };
                let alone = quiet.paced(writes, rate, phase).await;
                let alone_p99 = percentile(&alone.latencies, 0.99);
                let mut phases = vec![(format!("quiet tenant {what} alone"), alone)];
                for noise in floods {
                    let stop = Instant::now() + phase + Duration::from_secs(1);
                    let (base, token) = (app.url(""), noisy.clone());
                    let flooders: Vec<_> = match *noise {
                        Flood::Hammer(route) => (0..flood)
                            .map(|_| flooding.spawn(hammer(base.clone(), route, token.clone(), stop)))
                            .collect(),
                        Flood::Paced(route, times) => {
                            vec![flooding.spawn(pace(base, route, token, rate * times, stop))]
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let under = quiet.paced(writes, rate, phase).await;
                    let scenario = match *noise {
                        Flood::Hammer(route) => {
                            format!("quiet {what}, {flood} connections flooding `{route}`")
                        }
                        Flood::Paced(route, times) => {
                            format!("quiet {what}, the noisy tenant paced at {times}× on `{route}`")
                        }
                    };
                    phases.push((scenario, under));
                    for flooder in flooders {
                        flooder.await.expect("flooder");
                    }
                }
                for (scenario, measured) in phases {
                    let ratio = ratio(percentile(&measured.latencies, 0.99), alone_p99);
                    eprintln!("round {round}: {scenario}: p99 {ratio:.2}× alone");
                    match results.iter_mut().find(|(s, _, _)| *s == scenario) {
                        Some((_, all, ratios)) => {
                            all.push(measured);
                            ratios.push(ratio);
                        }
                        None => results.push((scenario, vec![measured], vec![ratio])),
                    }
                }
            }
        }
        println!(
            "| scenario ({rounds} rounds) | quiet p50 | quiet p99 | p99 vs alone, same round | quiet failures |"
        );
        println!("|---|---:|---:|---:|---:|");
        for (scenario, phases, ratios) in &results {
            report(scenario, phases, ratios);
        }
    });
}

/// What the noisy tenant sends, on a route ("METHOD /path").
enum Flood {
    /// `flood` connections, each sending back to back: as much as the host takes.
    Hammer(&'static str),
    /// Paced, open loop: this many times the quiet tenant's rate.
    Paced(&'static str, u64),
}

/// Requests `route` as the noisy tenant, back to back, until `stop`.
async fn hammer(base: String, route: &str, token: String, stop: Instant) {
    let client = reqwest::Client::new();
    while Instant::now() < stop {
        noisy_request(&client, &base, route, &token).await;
    }
}

/// Requests `route` as the noisy tenant `rate` times a second, each on a task of
/// its own, until `stop`.
async fn pace(base: String, route: &'static str, token: String, rate: u64, stop: Instant) {
    let client = reqwest::Client::new();
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut sent = Vec::new();
    while Instant::now() < stop {
        ticks.tick().await;
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        sent.push(tokio::spawn(async move {
            noisy_request(&client, &base, route, &token).await;
        }));
    }
    for request in sent {
        request.await.expect("noisy request task");
    }
}

async fn noisy_request(client: &reqwest::Client, base: &str, route: &str, token: &str) {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let sent = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("X-Tenant-ID", "noisy")
        .send()
        .await;
    if let Ok(response) = sent {
        let _ = response.bytes().await;
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

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// A scenario's medians over its rounds.
fn report(scenario: &str, phases: &[Phase], ratios: &[f64]) {
    let ms = |p: f64| {
        median(
            phases
                .iter()
                .map(|phase| percentile(&phase.latencies, p).as_secs_f64() * 1000.0)
                .collect(),
        )
    };
    println!(
        "| {scenario} | {:.2} ms | {:.2} ms | {:.2}× | {} |",
        ms(0.50),
        ms(0.99),
        median(ratios.to_vec()),
        phases.iter().map(|p| p.failures).sum::<usize>(),
    );
}
