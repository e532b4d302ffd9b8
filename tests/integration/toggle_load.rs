//! 100 toggles of one module for one tenant while a load generator drives that
//! tenant and another: the modules that stay enabled never fail, and no request
//! to the toggled module that began after its disable was acknowledged (and ended
//! before the next enable) is served, on the replica that toggled nor (PostgreSQL)
//! on a second one.
//! Prints the figures (run with `--nocapture`; BENCHMARKS.md has them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(toggles_under_load_never_fail_the_others_nor_serve_the_disabled);

const TOGGLES: usize = 100;

/// One request: when it was sent and answered, and its status.
struct Sample {
    sent: Instant,
    answered: Instant,
    status: u16,
    /// What an unexpected answer said.
    error: Option<String>,
}

async fn drive(
    app: Arc<TestApp>,
    tenant: &'static str,
    path: &'static str,
    token: String,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let answer = app.as_user(Method::GET, path, tenant, &token).send().await;
        let status = answer.status.as_u16();
        samples.push(Sample {
            sent,
            answered: Instant::now(),
            status,
            error: (status != 200 && status != 403).then_some(answer.text),
        });
    }
    samples
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

async fn toggles_under_load_never_fail_the_others_nor_serve_the_disabled(backend: Backend) {
    let app = Arc::new(
        TestApp::builder(backend)
            .with_tenant("acme", &["attendance"])
            .with_tenant("beta", &["attendance"])
            .with_tenant_rate_limit(None)
            // Debug builds on a machine the whole suite shares: a call pushed onto
            // the low-priority CPU-bound pool can starve past the default 2 s. This
            // test is about toggles, not deadlines (BENCHMARKS.md (e) is).
            .with_limits(|limits| limits.call_timeout = Duration::from_secs(20))
            .start()
            .await,
    );
    // On PostgreSQL a second replica on the same database is driven too.
    let replica = match backend {
        Backend::Postgres => {
            let replica = TestApp::builder(backend)
                .replica_of(&app)
                .with_tenant_rate_limit(None)
                .with_limits(|limits| limits.call_timeout = Duration::from_secs(20))
                .start()
                .await;
            app.until_replicas_acknowledge("acme", 1).await;
            Some(Arc::new(replica))
        }
        Backend::Sqlite => None,
    };
    let acme = app.token("acme", Role::TenantAdmin).await;
    let beta = app.token("beta", Role::TenantAdmin).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load_on = |host: &Arc<TestApp>, tenant, path, token: &String| {
        tokio::spawn(drive(
            Arc::clone(host),
            tenant,
            path,
            token.clone(),
            Arc::clone(&stop),
        ))
    };
    let load = |tenant, path, token: &String| load_on(&app, tenant, path, token);
    let toggled: Vec<_> = std::iter::once(&app)
        .chain(replica.as_ref())
        .map(|host| load_on(host, "acme", "/api/attendance/", &acme))
        .collect();
    let steady = [
        load("acme", "/api/employees/", &acme),
        load("acme", "/api/employees/", &acme),
        load("beta", "/api/attendance/", &beta),
    ];

    // Disabled from the acknowledgement of a disable to the sending of the next
    // enable: no request sent and answered in between may be served.
    let mut disabled: Vec<(Instant, Instant)> = Vec::new();
    let mut took = Vec::new();
    let admin = app.admin_token();
    for toggle in 0..TOGGLES {
        let enabled = toggle % 2 == 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sent = Instant::now();
        if enabled && let Some(last) = disabled.last_mut() {
            last.1 = sent;
        }
        app.req(Method::POST, "/api/admin/tenants/acme/modules/attendance")
            .bearer(&admin)
            .json(&json!({"enabled": enabled}))
            .send()
            .await
            .expect(200);
        let acknowledged = Instant::now();
        took.push(acknowledged - sent);
        if !enabled {
            disabled.push((acknowledged, acknowledged + Duration::from_secs(3600)));
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);

    let mut steady_samples = 0;
    for driver in steady {
        let samples = driver.await.expect("driver");
        let failed: Vec<(u16, Option<&String>)> = samples
            .iter()
            .filter(|s| s.status != 200)
            .map(|s| (s.status, s.error.as_ref()))
            .collect();
        assert!(failed.is_empty(), "an enabled module failed: {failed:?}");
        steady_samples += samples.len();
    }
    let mut samples = Vec::new();
    for driver in toggled {
        samples.extend(driver.await.expect("driver"));
    }
    // Served for certain while disabled: sent after the disable's acknowledgement
    // and answered before the next enable was even sent (a request sent just before
    // the enable may reach the host after it).
    let served_while_disabled = samples
        .iter()
        .filter(|s| s.status == 200)
        .filter(|s| {
            disabled
                .iter()
                .any(|(from, to)| s.sent >= *from && s.answered < *to)
        })
        .count();
    let unexpected: Vec<&String> = samples.iter().filter_map(|s| s.error.as_ref()).collect();
    assert!(
        unexpected.is_empty(),
        "the toggled module answered {unexpected:?}"
    );
    assert_eq!(
        served_while_disabled, 0,
        "served after a disable was acknowledged"
    );
    let refused = samples.iter().filter(|s| s.status == 403).count();
    assert!(
        refused > 0 && refused < samples.len(),
        "the load saw both states"
    );
    eprintln!(
        "{backend:?}: {TOGGLES} toggles (median {:?}, max {:?}); enabled modules {steady_samples} requests, 0 errors; \
         toggled module {} requests on {} replica(s) ({refused} refused), 0 served after a disable",
        median(took.clone()),
        took.iter().max().expect("toggles"),
        samples.len(),
        1 + usize::from(replica.is_some()),
    );
}
