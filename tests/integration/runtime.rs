//! The runtime's own promises: compiled artifacts are cached, warm instances reused
//! and recycled.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_loads_compiled_modules_from_the_cache() {
    let cache = tempfile::tempdir().expect("temp dir");
    let first = TestApp::builder(Backend::Sqlite)
        .with_cache_dir(cache.path().to_owned())
        .start()
        .await;
    assert!(first.state.runtime.modules().iter().all(|m| !m.cached));
    drop(first);
    let second = TestApp::builder(Backend::Sqlite)
        .with_cache_dir(cache.path().to_owned())
        .start()
        .await;
    let modules = second.state.runtime.modules();
    assert_eq!(modules.len(), mosaic::BUILTIN_MODULES.len());
    assert!(modules.iter().all(|m| m.cached), "nothing recompiled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_reused_then_recycled() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("demo", &[])
        .with_limits(|l| l.recycle_after_calls = 3)
        .start()
        .await;
    let token = app.token("demo", Role::Member).await;
    for _ in 0..7 {
        app.as_user(Method::GET, "/api/employees/", "demo", &token)
            .send()
            .await
            .expect(200);
    }
    let slot = app.state.runtime.slots().into_iter().next().expect("slot");
    assert_eq!(slot.calls, 7);
    assert_eq!(slot.instantiations, 3, "one instance per 3 calls");
    assert_eq!(slot.warm_instances, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_slots_are_evicted() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("demo", &[])
        .with_limits(|l| l.slot_idle_timeout = std::time::Duration::from_millis(200))
        .start()
        .await;
    let token = app.token("demo", Role::Member).await;
    app.as_user(Method::GET, "/api/employees/", "demo", &token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        app.state.runtime.evict_idle(),
        0,
        "a slot just used is not idle"
    );
    assert_eq!(app.state.runtime.slots().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The background evictor may have been first; either way the slot is gone.
    app.state.runtime.evict_idle();
    assert!(app.state.runtime.slots().is_empty());
}

/// On SQLite a tenant's module-data file closes once idle, and opens again, with
/// what it held, at the tenant's next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tenant_files_close_and_reopen_with_their_data() {
    let idle_for = std::time::Duration::from_millis(200);
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("demo", &[])
        .with_limits(|l| l.slot_idle_timeout = idle_for)
        .start()
        .await;
    let token = app.token("demo", Role::TenantAdmin).await;
    app.as_user(Method::POST, "/api/employees/", "demo", &token)
        .json(&serde_json::json!({
            "name": "Ada Lovelace", "email": "ada@example.com", "department": "Engineering",
            "position": "Engineer", "salary": 650000, "hired_on": "2024-02-29"
        }))
        .send()
        .await
        .expect(201);
    assert_eq!(app.metric("mosaic_tenant_files_open").await, Some(1.0));
    tokio::time::sleep(idle_for + std::time::Duration::from_millis(100)).await;
    // The background housekeeping may have been first; either way the file is closed.
    app.state.db.close_idle_tenant_files(idle_for).await;
    assert_eq!(app.state.db.open_tenant_files(), 0);
    let listed = app
        .as_user(Method::GET, "/api/employees/", "demo", &token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"][0]["name"], "Ada Lovelace", "{listed}");
    assert_eq!(app.state.db.open_tenant_files(), 1);
}

/// A component built for a contract version the host does not serve is refused at
/// install, by name, and so is one that mixes versions or is no Mosaic module.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_for_other_contract_versions_are_refused_by_name() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let cases = [
        (
            r#"(component (import "mosaic:platform/log@0.3.0" (instance)))"#,
            "module is built for mosaic:platform@0.3.0, but this host serves mosaic:platform@0.1.0, mosaic:platform@0.2.0",
        ),
        (
            r#"(component
                 (import "mosaic:platform/log@0.1.0" (instance))
                 (import "mosaic:platform/store@0.2.0" (instance)))"#,
            "module mixes contract versions: mosaic:platform/log@0.1.0 and mosaic:platform/store@0.2.0",
        ),
        (
            "(component)",
            "component is not a Mosaic module: it uses no mosaic:platform interface",
        ),
    ];
    for (wat, expected) in cases {
        let wasm = wat::parse_str(wat).expect("valid component text");
        let refused = app
            .state
            .runtime
            .install(&wasm, &mosaic::runtime::Provenance::Extra)
            .await
            .expect_err("an unserved contract must be refused");
        assert!(format!("{refused:#}").contains(expected), "{refused:#}");
    }
    assert_eq!(
        app.state.runtime.modules().len(),
        mosaic::BUILTIN_MODULES.len(),
        "nothing was installed"
    );
}

/// A shipped module keeps its own key: a component installed as the shipped
/// `wallet` but declaring another key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_module_must_declare_its_own_key() {
    let app = TestApp::builder(Backend::Sqlite).start().await;
    let wasm = std::fs::read(mosaic_tests::wasm("testbed")).expect("testbed.wasm");
    let shipped_as_wallet = mosaic::runtime::Provenance::Shipped {
        key: "wallet".into(),
    };
    let refused = app
        .state
        .runtime
        .install(&wasm, &shipped_as_wallet)
        .await
        .expect_err("a shipped module under another key must be refused");
    assert!(
        format!("{refused:#}").contains("the shipped module wallet declares the key \"testbed\""),
        "{refused:#}"
    );
    assert!(app.state.runtime.module("testbed").is_none());
}

/// With the engine's instance pool full, a new slot's first call drops the warm
/// instances of the least recently used slots, not those of the busiest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_sheds_the_least_recently_used_slots() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("older", &[])
        .with_tenant("newer", &[])
        .with_tenant("third", &[])
        .with_limits(|l| {
            l.total_instances = 2;
            l.instances_per_slot = 1;
        })
        .start()
        .await;
    for tenant in ["older", "newer", "third"] {
        let token = app.token(tenant, Role::Member).await;
        app.as_user(Method::GET, "/api/employees/", tenant, &token)
            .send()
            .await
            .expect(200);
        // Distinct use times, a millisecond apart at least.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let warm: Vec<(String, usize)> = app
        .state
        .runtime
        .slots()
        .into_iter()
        .filter(|slot| slot.module == "employees")
        .map(|slot| (slot.tenant_id, slot.warm_instances))
        .collect();
    for (tenant, expected) in [("older", 0), ("newer", 1), ("third", 1)] {
        let id = app.tenant_id(tenant).await;
        let found = warm.iter().find(|(slot, _)| *slot == id).map(|(_, n)| *n);
        assert_eq!(found, Some(expected), "{tenant}: {warm:?}");
    }
}
