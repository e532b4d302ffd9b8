//! Attacks by a hostile module (issue #9): each may fail only its own request.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;

both_backends!(waits_in_wasi_end_at_the_deadline);

async fn testbed(backend: Backend, edit: impl FnOnce(&mut mosaic::Limits)) -> TestApp {
    TestApp::builder(backend)
        .with_testbed()
        .with_tenant("demo", &["testbed"])
        .with_tenant("acme", &["testbed"])
        .with_limits(edit)
        .start()
        .await
}

/// A module that sleeps (a WASI clock poll, out of the epoch deadline's reach) is
/// stopped at the request's deadline, and what it wrote before is rolled back.
async fn waits_in_wasi_end_at_the_deadline(backend: Backend) {
    let timeout = Duration::from_millis(800);
    let app = testbed(backend, |l| l.call_timeout = timeout).await;
    let demo = app.token("demo", Role::Member).await;
    for path in [
        "/api/testbed/sleep?ms=30000",
        "/api/testbed/write-then-sleep?ms=30000",
    ] {
        let method = if path.contains("write") {
            Method::POST
        } else {
            Method::GET
        };
        let started = Instant::now();
        app.as_user(method, path, "demo", &demo)
            .send()
            .await
            .expect_error(500, "module_timeout");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
            "{path} took {elapsed:?}"
        );
    }
    let notes = app
        .as_user(Method::GET, "/api/testbed/notes", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(
        notes.body["count"], 0,
        "the write before the sleep was rolled back"
    );
    // The instance that slept was discarded; the slot serves the next request.
    app.as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect(200);
}
