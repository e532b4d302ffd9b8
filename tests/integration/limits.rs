//! A buggy or hostile module fails only its own request.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(
    endless_loop_hits_the_deadline_while_others_are_served,
    memory_is_capped,
    traps_are_contained,
    size_caps,
    failed_requests_write_nothing,
    undeclared_calls_and_roles,
    a_full_slot_answers_busy
);

/// The testbed enabled for two tenants, `demo` and `acme`, under `edit`ed limits.
pub(crate) async fn testbed(backend: Backend, edit: impl FnOnce(&mut mosaic::Limits)) -> TestApp {
    TestApp::builder(backend)
        .with_testbed()
        .with_tenant("demo", &["testbed"])
        .with_tenant("acme", &["testbed"])
        .with_limits(edit)
        .start()
        .await
}

async fn endless_loop_hits_the_deadline_while_others_are_served(backend: Backend) {
    let app = testbed(backend, |l| l.call_timeout = Duration::from_millis(2500)).await;
    let demo = app.token("demo", Role::Member).await;
    let acme = app.token("acme", Role::Member).await;

    let started = Instant::now();
    let spin = tokio::spawn(
        app.as_user(Method::GET, "/api/testbed/spin", "demo", &demo)
            .send(),
    );
    app.wait_until_busy("demo", "testbed").await;
    for _ in 0..5 {
        app.as_user(Method::GET, "/api/testbed/fixed", "acme", &acme)
            .send()
            .await
            .expect(200);
        app.as_user(Method::GET, "/api/employees/", "demo", &demo)
            .send()
            .await
            .expect(200);
    }
    assert!(
        !spin.is_finished(),
        "other tenants were served while the loop ran"
    );
    let spun = spin
        .await
        .expect("joined")
        .expect_error(500, "module_timeout");
    assert!(spun.body["request_id"].is_string());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2400) && elapsed < Duration::from_secs(8),
        "{elapsed:?}"
    );

    // The looping instance was discarded; the slot serves the next request.
    app.as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect(200);
}

async fn memory_is_capped(backend: Backend) {
    let app = testbed(backend, |l| l.max_memory_bytes = 16 << 20).await;
    let demo = app.token("demo", Role::Member).await;
    app.as_user(Method::GET, "/api/testbed/alloc", "demo", &demo)
        .send()
        .await
        .expect_error(500, "module_memory_limit");
    app.as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect(200);
}

async fn traps_are_contained(backend: Backend) {
    let app = testbed(backend, |_| {}).await;
    let demo = app.token("demo", Role::Member).await;
    app.as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect(200);
    let trapped = app
        .as_user(Method::GET, "/api/testbed/trap", "demo", &demo)
        .send()
        .await
        .expect_error(500, "module_trap");
    assert_eq!(
        trapped.body["request_id"].as_str(),
        trapped
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
    );
    app.as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect(200);
    let demo_id = app.tenant_id("demo").await;
    let slot = app
        .state
        .runtime
        .slots()
        .into_iter()
        .find(|s| s.tenant_id == demo_id && s.module == "testbed")
        .expect("slot");
    assert_eq!(
        slot.instantiations, 2,
        "the trapped instance was replaced, never reused"
    );
}

async fn size_caps(backend: Backend) {
    let app = testbed(backend, |l| {
        l.max_request_bytes = 8 << 10;
        l.max_response_bytes = 64 << 10;
    })
    .await;
    let demo = app.token("demo", Role::Member).await;
    app.as_user(Method::GET, "/api/testbed/big?bytes=1000", "demo", &demo)
        .send()
        .await
        .expect(200);
    app.as_user(Method::GET, "/api/testbed/big?bytes=200000", "demo", &demo)
        .send()
        .await
        .expect_error(500, "module_response_too_large");
    let echoed = app
        .as_user(Method::POST, "/api/testbed/echo", "demo", &demo)
        .json(&json!({"small": true}))
        .send()
        .await
        .expect(200);
    assert_eq!(echoed.body, json!({"small": true}));
    app.as_user(Method::POST, "/api/testbed/echo", "demo", &demo)
        .raw("x".repeat(9 << 10))
        .send()
        .await
        .expect_error(413, "payload_too_large");
}

async fn failed_requests_write_nothing(backend: Backend) {
    let app = testbed(backend, |_| {}).await;
    let demo = app.token("demo", Role::Member).await;
    for status in [500, 422, 409] {
        let resp = app
            .as_user(
                Method::POST,
                &format!("/api/testbed/write-then-fail?status={status}"),
                "demo",
                &demo,
            )
            .send()
            .await
            .expect(status);
        assert_eq!(resp.body["code"], "testbed");
    }
    let count = app
        .as_user(Method::GET, "/api/testbed/notes", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(count.body, json!({"count": 0}));
    app.as_user(
        Method::POST,
        "/api/testbed/write-then-fail?status=201",
        "demo",
        &demo,
    )
    .send()
    .await
    .expect(201);
    let count = app
        .as_user(Method::GET, "/api/testbed/notes", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(count.body, json!({"count": 1}));
}

async fn undeclared_calls_and_roles(backend: Backend) {
    let app = testbed(backend, |_| {}).await;
    let member = app.token("demo", Role::Member).await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    app.as_user(Method::GET, "/api/testbed/call-undeclared", "demo", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    // A call back into a module already on the chain is a cycle.
    let cycle = app
        .as_user(Method::GET, "/api/testbed/call-self", "demo", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    assert!(
        cycle.body["error"]
            .as_str()
            .expect("message")
            .contains("cycle"),
        "{}",
        cycle.text
    );
    // A declared dependency that is disabled for the tenant is unavailable.
    app.as_user(Method::GET, "/api/testbed/call-attendance", "demo", &member)
        .send()
        .await
        .expect_error(503, "module_unavailable");
    // Emitting events needs the capability in the manifest.
    let emit = app
        .as_user(Method::POST, "/api/testbed/emit", "demo", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    assert!(
        emit.body["error"]
            .as_str()
            .expect("message")
            .contains("capability"),
        "{}",
        emit.text
    );
    // So does sending messages.
    let notify = app
        .as_user(Method::POST, "/api/testbed/notify", "demo", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    assert!(
        notify.text.contains("`notify` capability"),
        "{}",
        notify.text
    );
    app.as_user(Method::GET, "/api/testbed/admin-only", "demo", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.as_user(Method::GET, "/api/testbed/admin-only", "demo", &admin)
        .send()
        .await
        .expect(204);

    let who = app
        .as_user(
            Method::GET,
            "/api/testbed/whoami",
            "acme",
            &app.token("acme", Role::Manager).await,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(who["tenant"], "acme");
    assert_eq!(who["tenant_id"], app.tenant_id("acme").await.as_str());
    assert_eq!(who["user"], "user-acme");
    assert_eq!(who["manager"], true);
}

async fn a_full_slot_answers_busy(backend: Backend) {
    let app = testbed(backend, |l| {
        l.instances_per_slot = 1;
        l.queue_timeout = Duration::from_millis(100);
        l.call_timeout = Duration::from_millis(1000);
    })
    .await;
    let demo = app.token("demo", Role::Member).await;
    let spin = tokio::spawn(
        app.as_user(Method::GET, "/api/testbed/spin", "demo", &demo)
            .send(),
    );
    app.wait_until_busy("demo", "testbed").await;
    let busy = app
        .as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect_error(503, "unavailable");
    assert!(busy.headers.contains_key("retry-after"));
    spin.await
        .expect("joined")
        .expect_error(500, "module_timeout");
    // The slot recovers: the timed-out instance is discarded and its place freed,
    // which on a loaded machine may land a moment after the 500 went out.
    let started = Instant::now();
    loop {
        let resp = app
            .as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
            .send()
            .await;
        if resp.status.as_u16() == 200 {
            break;
        }
        let resp = resp.expect_error(503, "unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "never recovered: {}",
            resp.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
