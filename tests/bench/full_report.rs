//! The full report (BENCHMARKS.md (g)): a tenant with 500 employees and a month of
//! attendance (one session per employee per working day), tasks and complaints,
//! on the real host with the real modules; then `GET /api/reports/` timed, beside
//! the five source routes it calls asked directly (the baseline: the same work
//! without the reports module in between).
//!
//! `cargo run --release -p mosaic-tests --bin full-report -- [sqlite|postgres] [employees] [runs]`

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use jiff::{Timestamp, ToSpan, civil::Weekday, tz::TimeZone};
use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const TENANT: &str = "bench";
const DEPARTMENTS: &[&str] = &["Engineering", "Operations", "Sales", "Support", "Finance"];
/// Concurrent seeding requests.
const SEEDERS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = match args.first().map(String::as_str) {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let employees: usize = args
        .get(1)
        .map_or(500, |n| n.parse().expect("employee count"));
    let runs: usize = args.get(2).map_or(20, |n| n.parse().expect("run count"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let app = TestApp::builder(backend)
            .on_plan("enterprise")
            .with_tenant(
                TENANT,
                &["attendance", "tasks", "complaints", "wallet", "reports"],
            )
            .with_tenant_rate_limit(None)
            .start()
            .await;
        let manager = app.token(TENANT, Role::Manager).await;
        let seeded = Instant::now();
        let (from, to, counts) = seed(&app, &manager, employees).await;
        eprintln!("seeded {counts} in {:.1?}", seeded.elapsed());
        let query = format!("?from={from}&to={to}");

        let report = get(&app, &manager, &format!("/api/reports/{query}")).await;
        let calls = report["modules_calls"].as_u64().expect("modules_calls");
        let sections = &report["sections"];
        assert!(
            ["headcount", "attendance", "tasks", "complaints", "payouts"]
                .iter()
                .all(|s| sections[s]["available"] == true),
            "every section: {report}"
        );
        let direct = [
            format!("/api/employees/stats{query}"),
            format!("/api/attendance/summary{query}"),
            format!("/api/tasks/stats{query}"),
            format!("/api/complaints/stats{query}"),
            format!("/api/wallet/payouts/summary{query}"),
        ];
        let (mut full, mut baseline) = (Vec::new(), Vec::new());
        // Interleaved, so that the machine's noise falls on both alike.
        for _ in 0..runs {
            full.push(timed(&app, &manager, &format!("/api/reports/{query}")).await);
            let mut sum = Duration::ZERO;
            for path in &direct {
                sum += timed(&app, &manager, path).await;
            }
            baseline.push(sum);
        }
        let (full, baseline) = (median(full), median(baseline));
        println!("| backend | employees | sessions | report | its modules.calls | five source routes asked directly | ratio |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {backend:?} | {employees} | {} | {:.1} ms | {calls} | {:.1} ms | {:.2}× |",
            sections["attendance"]["totals"]["days_present"],
            ms(full),
            ms(baseline),
            ms(full) / ms(baseline)
        );
    });
}

/// Employees in five departments; for each working day of the last 30 days one
/// session per employee (a manual entry, 8 h from 09:00 UTC, one in ten late); one
/// task done and one ticket resolved per employee; a payout. The period covered.
async fn seed(app: &TestApp, manager: &str, employees: usize) -> (String, String, String) {
    let admin = app.token(TENANT, Role::TenantAdmin).await;
    let ids: Vec<String> = run(0..employees, |n| {
        let body = json!({"name": format!("Employee {n}"), "email": format!("e{n}@bench.test"),
                          "department": DEPARTMENTS[n % DEPARTMENTS.len()],
                          "salary": 300_000 + n as i64, "hired_on": "2024-01-15"});
        send(
            app,
            &admin,
            Method::POST,
            "/api/employees/".into(),
            body,
            201,
        )
    })
    .await
    .into_iter()
    .map(|e| e["id"].as_str().expect("id").to_owned())
    .collect();

    let today = Timestamp::now().to_zoned(TimeZone::UTC).date();
    let from = today.checked_sub(30.days()).expect("a month ago");
    let days: Vec<_> = (0..30)
        .filter_map(|d| from.checked_add(d.days()).ok())
        .filter(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday))
        .collect();
    let sessions: Vec<(usize, i64)> = ids
        .iter()
        .enumerate()
        .flat_map(|(n, _)| {
            days.iter().map(move |day| {
                let nine = day
                    .at(9, 0, 0, 0)
                    .to_zoned(TimeZone::UTC)
                    .expect("09:00")
                    .timestamp()
                    .as_millisecond();
                (n, nine + if n % 10 == 0 { 15 * 60_000 } else { 0 })
            })
        })
        .collect();
    let session_count = sessions.len();
    let progress = Instant::now();
    run(sessions, |(n, check_in)| {
        let body = json!({"employee_id": ids[n], "check_in": check_in,
                          "check_out": check_in + 8 * 3_600_000, "reason": "benchmark data"});
        send(
            app,
            manager,
            Method::POST,
            "/api/attendance/".into(),
            body,
            201,
        )
    })
    .await;
    eprintln!("{session_count} sessions in {:.1?}", progress.elapsed());

    run(ids.iter(), |id| async move {
        let task = send(
            app,
            manager,
            Method::POST,
            "/api/tasks/".into(),
            json!({"title": "Close the books", "assignee_id": id}),
            201,
        )
        .await;
        let path = format!("/api/tasks/{}", task["id"].as_str().expect("task id"));
        for status in ["IN_PROGRESS", "REVIEW", "DONE"] {
            send(
                app,
                manager,
                Method::PATCH,
                path.clone(),
                json!({"status": status}),
                200,
            )
            .await;
        }
        let ticket = send(
            app,
            manager,
            Method::POST,
            "/api/complaints/".into(),
            json!({"title": "Printer", "description": "Jammed", "category": "it"}),
            201,
        )
        .await;
        let path = format!(
            "/api/complaints/{}",
            ticket["id"].as_str().expect("ticket id")
        );
        for status in ["IN_PROGRESS", "RESOLVED"] {
            send(
                app,
                manager,
                Method::PATCH,
                path.clone(),
                json!({"status": status}),
                200,
            )
            .await;
        }
        Value::Null
    })
    .await;
    send(
        app,
        &admin,
        Method::POST,
        "/api/wallet/payouts".into(),
        json!({}),
        201,
    )
    .await;
    let counts = format!(
        "{employees} employees, {session_count} sessions, {employees} tasks, {employees} tickets"
    );
    (from.to_string(), today.to_string(), counts)
}

async fn run<I, F, Fut>(items: I, make: F) -> Vec<Value>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    stream::iter(items)
        .map(make)
        .buffer_unordered(SEEDERS)
        .collect()
        .await
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: String,
    body: Value,
    status: u16,
) -> Value {
    app.as_user(method, &path, TENANT, token)
        .json(&body)
        .send()
        .await
        .expect(status)
        .body
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    app.as_user(Method::GET, path, TENANT, token)
        .send()
        .await
        .expect(200)
        .body
}

async fn timed(app: &TestApp, token: &str, path: &str) -> Duration {
    let started = Instant::now();
    get(app, token, path).await;
    started.elapsed()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
