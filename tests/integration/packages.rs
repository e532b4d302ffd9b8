//! Modules installed at runtime through the admin API (issue #14): validated before
//! anything changes, granted by a person, upgraded and rolled back under load with
//! no failed request, pinned per tenant, uninstalled, and kept across a restart.
//! `greeter` (1.0.0) and `greeter-next` (2.0.0, one capability more) are the two
//! versions of one module key.

use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use mosaic::auth::Role;
use mosaic_tests::load::Load;
use mosaic_tests::{Backend, Replica, Resp, TEST_JWT_SECRET, TestApp, both_backends, wasm};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    an_upload_is_validated_before_anything_changes,
    a_grant_decides_what_a_module_may_use,
    upgrade_and_rollback_under_load_fail_no_request,
    a_pin_holds_a_tenant_on_a_version,
    uninstall_is_refused_while_enabled_and_keeps_or_purges_data,
    a_new_process_serves_what_was_installed,
);

fn component(name: &str) -> Vec<u8> {
    std::fs::read(wasm(name)).expect("the guest is built")
}

async fn upload(app: &TestApp, wasm: Vec<u8>, signature: Option<&str>) -> Resp {
    let mut req = app
        .req(Method::POST, "/api/admin/modules")
        .bearer(&app.admin_token())
        .header("content-type", "application/wasm");
    if let Some(signature) = signature {
        req = req.header("x-mosaic-signature", signature);
    }
    req.raw_bytes(wasm).send().await
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Value) -> Resp {
    app.req(method, path)
        .bearer(&app.admin_token())
        .json(&body)
        .send()
        .await
}

async fn rollback(app: &TestApp) -> Resp {
    admin(
        app,
        Method::POST,
        "/api/admin/modules/greeter/rollback",
        json!(null),
    )
    .await
}

async fn grant(app: &TestApp, body: Value) -> Resp {
    admin(app, Method::PUT, "/api/admin/modules/greeter/grant", body).await
}

async fn enable(app: &TestApp, tenant: &str, enabled: bool) {
    admin(
        app,
        Method::POST,
        &format!("/api/admin/tenants/{tenant}/modules/greeter"),
        json!({ "enabled": enabled }),
    )
    .await
    .expect(200);
}

/// The version of `greeter` that answers the tenant.
async fn version(app: &TestApp, tenant: &str, token: &str) -> String {
    let body = app
        .as_user(Method::GET, "/api/greeter/", tenant, token)
        .send()
        .await
        .expect(200)
        .body;
    body["version"].as_str().expect("a version").to_owned()
}

/// Installs both versions with everything granted: 2.0.0 serves.
async fn install_both(app: &TestApp) {
    upload(app, component("greeter"), None).await.expect(201);
    grant(app, json!({"all": true})).await.expect(200);
    upload(app, component("greeter_next"), None)
        .await
        .expect(201);
    grant(app, json!({"all": true})).await.expect(200);
}

fn installed(catalog: &Value) -> &Vec<Value> {
    catalog["installed"].as_array().expect("installed")
}

async fn catalog(app: &TestApp) -> Value {
    app.req(Method::GET, "/api/admin/modules")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body
}

async fn an_upload_is_validated_before_anything_changes(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_packages(|p| p.max_bytes = 2 << 20)
        .with_tenant("demo", &[])
        .start()
        .await;
    let refusals: [(Vec<u8>, u16, &str); 6] = [
        (b"not wasm at all".to_vec(), 422, "failed to parse"),
        (
            wat::parse_str("(module)").expect("a core module"),
            422,
            "component",
        ),
        (
            wat::parse_str(r#"(component (import "mosaic:platform/log@0.3.0" (instance)))"#)
                .expect("a component"),
            422,
            "built for mosaic:platform@0.3.0",
        ),
        (component("broken"), 422, "describe failed"),
        (
            component("impostor"),
            409,
            "belongs to a module the host ships",
        ),
        (vec![0; (2 << 20) + 1], 413, "larger than 2097152 bytes"),
    ];
    for (wasm, status, expected) in refusals {
        let refused = upload(&app, wasm, None).await.expect(status);
        assert!(
            refused.text.contains(expected),
            "{expected}: {}",
            refused.text
        );
    }
    // Only a platform admin installs.
    let member = app.token("demo", Role::TenantAdmin).await;
    app.req(Method::POST, "/api/admin/modules")
        .bearer(&member)
        .raw_bytes(component("greeter"))
        .send()
        .await
        .expect_error(403, "forbidden");
    let catalog = catalog(&app).await;
    assert!(installed(&catalog).is_empty(), "{catalog}");
    assert!(
        !catalog["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["key"] == "greeter" || m["key"] == "impostor")
    );
    let audited = admin(
        &app,
        Method::GET,
        "/api/admin/audit?action=module.install",
        json!(null),
    )
    .await
    .expect(200);
    assert_eq!(
        audited.body["items"],
        json!([]),
        "a refusal changes nothing"
    );
}

async fn a_grant_decides_what_a_module_may_use(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let demo = app.token("demo", Role::TenantAdmin).await;
    let first = upload(&app, component("greeter"), None).await.expect(201);
    assert_eq!(first.body["state"], "awaiting_grant", "{}", first.text);
    assert_eq!(first.body["version"], "1.0.0");
    assert_eq!(first.body["contract"], "0.2.0");
    assert_eq!(
        first.body["undecided"],
        json!([{"kind": "capability", "item": "files"}])
    );
    assert_eq!(
        first.body["sha256"].as_str().map(str::len),
        Some(64),
        "{}",
        first.text
    );
    // Not serving before its grant: no tenant can switch it on.
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/demo/modules/greeter",
        json!({"enabled": true}),
    )
    .await
    .expect_error(404, "not_found");
    // A grant names only what is requested.
    grant(&app, json!({"capabilities": ["billing"]}))
        .await
        .expect_error(422, "validation_failed");
    grant(&app, json!({"everything": true}))
        .await
        .expect_error(422, "validation_failed");
    // Files refused: it serves, and what needs files is forbidden and audited once.
    let granted = grant(&app, json!({})).await.expect(200);
    assert_eq!(granted.body["current_version"], "1.0.0");
    assert_eq!(
        granted.body["grant"],
        json!([{"kind": "capability", "item": "files", "allowed": false}])
    );
    enable(&app, "demo", true).await;
    assert_eq!(version(&app, "demo", &demo).await, "1.0.0");
    // One version has served: nothing to roll back to.
    rollback(&app).await.expect_error(409, "conflict");
    for _ in 0..3 {
        app.as_user(Method::POST, "/api/greeter/file", "demo", &demo)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = refused_rows(&app).await;
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 1, "one row for three refusals: {rows:?}");
    assert_eq!(rows[0]["actor"], "module:greeter");
    assert_eq!(rows[0]["target"], "capability:files");
    // Granted: the same call succeeds, at once.
    grant(&app, json!({"capabilities": ["files"]}))
        .await
        .expect(200);
    app.as_user(Method::POST, "/api/greeter/file", "demo", &demo)
        .send()
        .await
        .expect(201);
    let written = app
        .as_user(Method::POST, "/api/greeter/", "demo", &demo)
        .json(&json!({"text": "from one"}))
        .send()
        .await
        .expect(201);
    let by_v1 = written.body["id"].as_str().expect("id").to_owned();

    // Version 2 asks for `events` too: it waits, and 1.0.0 keeps serving.
    let next = upload(&app, component("greeter_next"), None)
        .await
        .expect(201);
    assert_eq!(next.body["state"], "awaiting_grant");
    assert_eq!(
        next.body["undecided"],
        json!([{"kind": "capability", "item": "events"}])
    );
    assert_eq!(version(&app, "demo", &demo).await, "1.0.0");
    // Neither an activation nor a pin gets around the wait.
    admin(
        &app,
        Method::POST,
        "/api/admin/modules/greeter/activate",
        json!({"version": "2.0.0"}),
    )
    .await
    .expect_error(409, "conflict");
    admin(
        &app,
        Method::PUT,
        "/api/admin/tenants/demo/modules/greeter/version",
        json!({"version": "2.0.0"}),
    )
    .await
    .expect_error(409, "conflict");
    let granted = grant(&app, json!({"capabilities": ["files", "events"]}))
        .await
        .expect(200);
    assert_eq!(granted.body["current_version"], "2.0.0");
    assert_eq!(granted.body["pending_version"], Value::Null);
    assert_eq!(version(&app, "demo", &demo).await, "2.0.0");
    // Each version reads what the other wrote.
    app.as_user(Method::GET, &format!("/api/greeter/{by_v1}"), "demo", &demo)
        .send()
        .await
        .expect(200);
    let by_v2 = app
        .as_user(Method::POST, "/api/greeter/", "demo", &demo)
        .json(&json!({"text": "from two"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rolled = rollback(&app).await.expect(200);
    assert_eq!(rolled.body["current_version"], "1.0.0");
    assert_eq!(version(&app, "demo", &demo).await, "1.0.0");
    let read = app
        .as_user(Method::GET, &format!("/api/greeter/{by_v2}"), "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(read.body["by"], "2.0.0", "{}", read.text);
    // A second rollback undoes the first; an unknown version is not found.
    rollback(&app).await.expect(200);
    assert_eq!(version(&app, "demo", &demo).await, "2.0.0");
    admin(
        &app,
        Method::POST,
        "/api/admin/modules/greeter/activate",
        json!({"version": "9.9.9"}),
    )
    .await
    .expect_error(404, "not_found");
    // The same bytes again change nothing; the same version with other bytes is refused.
    let again = upload(&app, component("greeter"), None).await.expect(200);
    assert_eq!(again.body["unchanged"], true);
    assert_eq!(version(&app, "demo", &demo).await, "2.0.0");
    // Shipped modules are not granted at runtime.
    admin(
        &app,
        Method::PUT,
        "/api/admin/modules/employees/grant",
        json!({}),
    )
    .await
    .expect_error(400, "bad_request");
    admin(
        &app,
        Method::PUT,
        "/api/admin/modules/nothing/grant",
        json!({}),
    )
    .await
    .expect_error(404, "not_found");
}

async fn refused_rows(app: &TestApp) -> Vec<Value> {
    admin(
        app,
        Method::GET,
        "/api/admin/audit?action=module.grant_refused",
        json!(null),
    )
    .await
    .expect(200)
    .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Signatures: required where configured, checked against the trusted publisher
/// keys, and a key stays with the publisher that first installed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_and_keys_stay_with_their_publisher() {
    let acme = SigningKey::from_bytes(&[7; 32]);
    let stranger = SigningKey::from_bytes(&[9; 32]);
    let sign = |key: &SigningKey, wasm: &[u8]| {
        base64::engine::general_purpose::STANDARD.encode(key.sign(wasm).to_bytes())
    };
    let trusted = vec![("acme".to_owned(), acme.verifying_key())];
    let strict = TestApp::builder(Backend::Sqlite)
        .with_packages(|p| {
            p.publisher_keys = trusted.clone();
            p.require_signature = true;
        })
        .start()
        .await;
    let wasm = component("greeter");
    upload(&strict, wasm.clone(), None)
        .await
        .expect_error(403, "forbidden");
    upload(&strict, wasm.clone(), Some(&sign(&stranger, &wasm)))
        .await
        .expect_error(403, "forbidden");
    upload(&strict, wasm.clone(), Some("not base64 !"))
        .await
        .expect_error(403, "forbidden");
    // A signature over other bytes does not carry over.
    let other = component("greeter_next");
    upload(&strict, wasm.clone(), Some(&sign(&acme, &other)))
        .await
        .expect_error(403, "forbidden");
    let signed = upload(&strict, wasm.clone(), Some(&sign(&acme, &wasm)))
        .await
        .expect(201);
    assert_eq!(signed.body["publisher"], "acme");

    let relaxed = TestApp::builder(Backend::Sqlite)
        .with_packages(|p| p.publisher_keys = trusted)
        .start()
        .await;
    upload(&relaxed, wasm.clone(), Some(&sign(&acme, &wasm)))
        .await
        .expect(201);
    let taken = upload(&relaxed, other.clone(), None)
        .await
        .expect_error(409, "conflict");
    assert!(
        taken.text.contains("belongs to the publisher acme"),
        "{}",
        taken.text
    );
    upload(&relaxed, other.clone(), Some(&sign(&acme, &other)))
        .await
        .expect(201);
    // Uninstalled, the key stays with its publisher (its tenants' data is still
    // there); purged, it is free.
    let uninstall = async |query: &str| {
        admin(
            &relaxed,
            Method::DELETE,
            &format!("/api/admin/modules/greeter{query}"),
            json!(null),
        )
        .await
        .expect(200)
    };
    uninstall("").await;
    let taken = upload(&relaxed, other.clone(), None)
        .await
        .expect_error(409, "conflict");
    assert!(
        taken.text.contains("belongs to the publisher acme"),
        "{}",
        taken.text
    );
    upload(&relaxed, other.clone(), Some(&sign(&acme, &other)))
        .await
        .expect(201);
    uninstall("?purge=true").await;
    upload(&relaxed, other, None).await.expect(201);
}

async fn upgrade_and_rollback_under_load_fail_no_request(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant_rate_limit(None)
        .with_tenant("demo", &[])
        .with_tenant("acme", &[])
        .start()
        .await;
    upload(&app, component("greeter"), None).await.expect(201);
    grant(&app, json!({"all": true})).await.expect(200);
    enable(&app, "demo", true).await;
    enable(&app, "acme", true).await;
    // On PostgreSQL a second replica serves half the load, following the catalog.
    let replica = match backend {
        Backend::Postgres => Some(
            TestApp::builder(backend)
                .replica_of(&app)
                .with_tenant_rate_limit(None)
                .start()
                .await,
        ),
        Backend::Sqlite => None,
    };
    let mut targets = vec![
        (app.url("/api/greeter/"), "demo".to_owned()),
        (app.url("/api/greeter/"), "acme".to_owned()),
    ];
    if let Some(replica) = &replica {
        targets.push((replica.url("/api/greeter/"), "demo".to_owned()));
        targets.push((replica.url("/api/greeter/"), "acme".to_owned()));
    }
    let token = app.token("demo", Role::Member).await;
    let acme = app.token("acme", Role::Member).await;
    // One load per (replica, tenant), each with its tenant's token.
    let loads: Vec<Load> = targets
        .iter()
        .map(|(url, tenant)| {
            let token = if tenant == "demo" { &token } else { &acme };
            Load::start(url, tenant, token, 2)
        })
        .collect();
    for load in &loads {
        load.until_serving("1.0.0").await;
    }
    // A slow request in flight across the swap finishes on the version it began on.
    let slow = {
        let req = app.as_user(Method::GET, "/api/greeter/slow?ms=800", "demo", &token);
        tokio::spawn(async move { req.send().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    upload(&app, component("greeter_next"), None)
        .await
        .expect(201);
    grant(&app, json!({"all": true})).await.expect(200);
    let slow = slow.await.expect("slow request").expect(200);
    assert_eq!(slow.body["version"], "1.0.0");
    for load in &loads {
        load.until_serving("2.0.0").await;
    }
    rollback(&app).await.expect(200);
    for load in &loads {
        load.until_serving("1.0.0").await;
    }
    let mut served = 0;
    for load in loads {
        let samples = load.finish().await;
        let errors = samples.iter().filter(|s| s.version.is_none()).count();
        assert_eq!(
            errors, 0,
            "{errors} failed requests across the upgrade and rollback"
        );
        served += samples.len();
    }
    assert!(served > 100, "the load ran: {served} requests");
}

async fn a_pin_holds_a_tenant_on_a_version(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .with_tenant("acme", &[])
        .with_tenant("globex", &[])
        .start()
        .await;
    install_both(&app).await;
    enable(&app, "demo", true).await;
    enable(&app, "acme", true).await;
    let demo = app.token("demo", Role::Member).await;
    let acme = app.token("acme", Role::Member).await;
    let pin = |tenant: &str, version: Value| {
        let path = format!("/api/admin/tenants/{tenant}/modules/greeter/version");
        let app = &app;
        async move { admin(app, Method::PUT, &path, json!({ "version": version })).await }
    };
    let pinned = pin("demo", json!("1.0.0")).await.expect(200);
    assert_eq!(pinned.body["pinned_version"], "1.0.0");
    assert_eq!(version(&app, "demo", &demo).await, "1.0.0");
    assert_eq!(version(&app, "acme", &acme).await, "2.0.0");
    pin("demo", json!("9.9.9"))
        .await
        .expect_error(404, "not_found");
    pin("globex", json!("1.0.0"))
        .await
        .expect_error(409, "conflict");
    admin(
        &app,
        Method::PUT,
        "/api/admin/tenants/demo/modules/employees/version",
        json!({"version": "0.1.0"}),
    )
    .await
    .expect_error(400, "bad_request");
    // Another replica holds the pinned tenant back too, and lets it go.
    if backend == Backend::Postgres {
        let replica = TestApp::builder(backend).replica_of(&app).start().await;
        assert_eq!(version(&replica, "demo", &demo).await, "1.0.0");
        assert_eq!(version(&replica, "acme", &acme).await, "2.0.0");
        pin("demo", Value::Null).await.expect(200);
        let started = std::time::Instant::now();
        while version(&replica, "demo", &demo).await != "2.0.0" {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the replica follows the unpin"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        pin("demo", Value::Null).await.expect(200);
    }
    assert_eq!(version(&app, "demo", &demo).await, "2.0.0");
    // A new current version does not move a pinned tenant.
    pin("demo", json!("2.0.0")).await.expect(200);
    rollback(&app).await.expect(200);
    assert_eq!(version(&app, "demo", &demo).await, "2.0.0");
    assert_eq!(version(&app, "acme", &acme).await, "1.0.0");
}

async fn uninstall_is_refused_while_enabled_and_keeps_or_purges_data(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let demo = app.token("demo", Role::Member).await;
    let install = async || {
        upload(&app, component("greeter"), None).await.expect(201);
        grant(&app, json!({"all": true})).await.expect(200);
        enable(&app, "demo", true).await;
    };
    install().await;
    let id = app
        .as_user(Method::POST, "/api/greeter/", "demo", &demo)
        .json(&json!({"text": "kept"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let uninstall = |query: &'static str| {
        let app = &app;
        async move {
            admin(
                app,
                Method::DELETE,
                &format!("/api/admin/modules/greeter{query}"),
                json!(null),
            )
            .await
        }
    };
    let in_use = uninstall("").await.expect_error(409, "conflict");
    assert!(
        in_use.text.contains("enabled for 1 tenant"),
        "{}",
        in_use.text
    );
    enable(&app, "demo", false).await;
    uninstall("").await.expect(200);
    admin(&app, Method::GET, "/api/admin/modules/greeter", json!(null))
        .await
        .expect_error(404, "not_found");
    assert!(installed(&catalog(&app).await).is_empty());
    assert!(app.state.runtime.module("greeter").is_none());
    // Installed again, it finds its data; purged, the data is gone.
    install().await;
    let path = format!("/api/greeter/{id}");
    app.as_user(Method::GET, &path, "demo", &demo)
        .send()
        .await
        .expect(200);
    enable(&app, "demo", false).await;
    let purged = uninstall("?purge=true").await.expect(200);
    assert_eq!(purged.body["purged_tenants"], 1);
    install().await;
    app.as_user(Method::GET, &path, "demo", &demo)
        .send()
        .await
        .expect_error(404, "not_found");
    admin(
        &app,
        Method::DELETE,
        "/api/admin/modules/employees",
        json!(null),
    )
    .await
    .expect_error(400, "bad_request");
    admin(
        &app,
        Method::DELETE,
        "/api/admin/modules/nothing",
        json!(null),
    )
    .await
    .expect_error(404, "not_found");
}

/// A `mosaic serve` process started afterwards on the same database — a restart,
/// or another replica — serves the installed version with its grant.
async fn a_new_process_serves_what_was_installed(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    install_both(&app).await;
    enable(&app, "demo", true).await;
    let token = app.token("demo", Role::Member).await;
    let replica = Replica::start(crate::MOSAIC, &app.database_url(), TEST_JWT_SECRET, &[]).await;
    let client = reqwest::Client::new();
    let answer: Value = client
        .get(replica.url("/api/greeter/"))
        .header("x-tenant-id", "demo")
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["version"], "2.0.0", "{answer}");
    let written = client
        .post(replica.url("/api/greeter/file"))
        .header("x-tenant-id", "demo")
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(written.status(), 201, "the grant came along");
}
