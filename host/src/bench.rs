//! `mosaic bench runtime`: the runtime's costs measured in-process, without HTTP:
//! installing a module (compiled vs cached), a cold slot (instantiate + first call)
//! and a warm call, each through the same `Runtime::dispatch` the HTTP path uses.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::{Caller, Role};
use crate::runtime::{Dispatch, Provenance, Runtime};
use crate::store::{AuditKey, Db};
use crate::tenancy::Directory;
use crate::{Limits, provisioning};

/// Median and 99th percentile of a set of timings.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: Duration,
    pub p99: Duration,
    pub runs: usize,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Summary {
        median: at(0.5),
        p99: at(0.99),
        runs: samples.len(),
    }
}

pub struct RuntimeReport {
    pub install_compiled: Summary,
    pub install_cached: Summary,
    pub cold_slot: Summary,
    pub warm_call: Summary,
}

/// Runs every measurement against `module` (a component with a `GET /fixed` route,
/// such as the testbed), in a scratch SQLite database under `scratch`.
pub async fn runtime(
    module: &Path,
    scratch: &Path,
    warm_runs: usize,
) -> anyhow::Result<RuntimeReport> {
    let wasm = std::fs::read(module)?;
    // The scratch database seals its audit rows (creating the tenant writes one)
    // with a key of its own.
    let audit_key = crate::auth::load_or_create_secret(None, scratch, "audit-key")?;
    let db = Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        scratch.join("bench.db").display()
    ))
    .await?
    .with_audit_key(AuditKey::new(&audit_key).map_err(anyhow::Error::msg)?);
    db.migrate().await?;
    let limits = Limits::default();

    eprintln!("installing with an empty artifact cache (compiles) ...");
    let mut compiled = Vec::new();
    for i in 0..5 {
        let runtime = Runtime::new(
            db.clone(),
            limits.clone(),
            scratch.join(format!("cold-cache-{i}")),
        )?;
        let started = Instant::now();
        runtime.install(&wasm, &Provenance::Extra).await?;
        compiled.push(started.elapsed());
    }
    eprintln!("installing from the artifact cache ...");
    let runtime = Runtime::new(db.clone(), limits.clone(), scratch.join("cold-cache-0"))?;
    let mut cached = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let loaded = runtime.install(&wasm, &Provenance::Extra).await?;
        cached.push(started.elapsed());
        anyhow::ensure!(loaded.cached, "expected a cache hit");
    }
    let key = runtime.modules()[0].key.clone();

    let directory = Directory::load(db.clone(), None).await?;
    let files = provisioning::TenantFiles::new(scratch);
    let billing = crate::billing::BillingSettings::default();
    let clock = crate::clock::Clock::default();
    let packages = provisioning::PackageSettings::default();
    let replicas = crate::tenancy::replicas::Replicas::new(std::time::Duration::ZERO);
    let provisioner = provisioning::Provisioner {
        db: &db,
        runtime: &runtime,
        directory: &directory,
        files: &files,
        billing: &billing,
        clock: &clock,
        packages: &packages,
        replicas: &replicas,
    };
    let actor = provisioning::Actor {
        id: "bench",
        origin: Default::default(),
    };
    let tenant = provisioner
        .create_tenant(
            provisioning::NewTenant {
                name: "Bench".into(),
                subdomain: "bench".into(),
                modules: vec![key.clone()],
                ..Default::default()
            },
            &actor,
        )
        .await?;
    let view = directory
        .by_id(&tenant.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("bench tenant missing"))?;
    let caller = Arc::new(Caller {
        user_id: "bench".into(),
        role: Role::Member,
        email: None,
        display_name: None,
        session: None,
    });
    let module = runtime
        .gate(&view, &key)
        .ok_or_else(|| anyhow::anyhow!("module not enabled for the bench tenant"))?;
    let call = || Dispatch {
        tenant: view.clone(),
        module: module.clone(),
        method: "GET".into(),
        path: "/fixed".into(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        caller: Some(caller.clone()),
        request_id: "bench".into(),
    };

    eprintln!("cold slots (drop the slot, then call) ...");
    let mut cold = Vec::new();
    for _ in 0..500 {
        runtime.drop_slot(&tenant.id, &key);
        let started = Instant::now();
        let response = runtime.dispatch(call()).await?;
        cold.push(started.elapsed());
        anyhow::ensure!(response.status == 200, "fixed answered {}", response.status);
    }
    eprintln!("warm calls ...");
    let mut warm = Vec::with_capacity(warm_runs);
    for _ in 0..warm_runs {
        let started = Instant::now();
        runtime.dispatch(call()).await?;
        warm.push(started.elapsed());
    }
    Ok(RuntimeReport {
        install_compiled: summarize(compiled),
        install_cached: summarize(cached),
        cold_slot: summarize(cold),
        warm_call: summarize(warm),
    })
}
