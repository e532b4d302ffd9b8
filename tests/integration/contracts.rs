//! Contract versions (issue #10): a module built against an older contract keeps
//! serving beside those built for 0.2.0, events and messages included, from a
//! committed binary.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(a_module_built_for_0_1_0_still_serves);

async fn a_module_built_for_0_1_0_still_serves(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_fixture("relay-0.1.0.wasm")
        .with_tenant("acme", &["relay"])
        .start()
        .await;
    let catalog = app
        .req(Method::GET, "/api/modules/")
        .send()
        .await
        .expect(200)
        .body;
    let relay = catalog["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["key"] == "relay")
        .expect("the fixture is installed")
        .clone();
    assert_eq!(relay["contract"], "0.1.0");
    let employees = catalog["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["key"] == "employees")
        .expect("employees is shipped");
    assert_eq!(
        employees["contract"], "0.2.0",
        "the shipped modules are built for 0.2.0"
    );
    let token = app.token("acme", Role::TenantAdmin).await;
    app.as_user(Method::POST, "/api/relay/emit", "acme", &token)
        .json(&json!([{"kind": "relay.old", "data": {"n": 1}}]))
        .send()
        .await
        .expect(202);
    let started = Instant::now();
    loop {
        let got = app
            .as_user(Method::GET, "/api/relay/received", "acme", &token)
            .send()
            .await
            .expect(200)
            .body;
        if got.as_array().is_some_and(|a| a.len() == 1) {
            assert_eq!(got[0]["data"]["n"], 1);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not delivered: {got}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
