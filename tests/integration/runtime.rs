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
    assert_eq!(modules.len(), 2);
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
