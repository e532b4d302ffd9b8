//! Event delivery (issue #10): from the outbox to subscribers' `on-event`, at least
//! once and in order per source, retried, dead-lettered and replayed, surviving a
//! killed host, and delivered once across two replicas.

use std::time::{Duration, Instant};

use mosaic::auth::{Claims, JwtKeys, Role};
use mosaic_tests::{Backend, Replica, TestApp, TestDatabase, both_backends, mosaic_command, wasm};
use reqwest::{Client, Method};
use serde_json::{Value, json};

both_backends!(
    module_settings_are_set_by_platform_admins,
    events_reach_subscribers_in_order_as_system_calls,
    a_failing_subscriber_is_retried_and_takes_the_event_once,
    dead_letters_are_listed_and_replayed,
    a_disabled_subscriber_receives_nothing_while_disabled,
    delivered_events_are_pruned_after_their_retention,
    a_slow_subscriber_never_holds_another_tenants_events
);

/// The relay enabled for `acme`, and employees (core) beside it.
async fn relay(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .with_guest("relay")
        .with_tenant("acme", &["relay"])
        .start()
        .await
}

async fn emit(app: &TestApp, token: &str, events: &[Value]) {
    app.as_user(Method::POST, "/api/relay/emit", "acme", token)
        .json(&json!(events))
        .send()
        .await
        .expect(202);
}

async fn set_settings(app: &TestApp, settings: Value) {
    app.req(
        Method::PUT,
        "/api/admin/tenants/acme/modules/relay/settings",
    )
    .bearer(&app.admin_token())
    .json(&settings)
    .send()
    .await
    .expect(200);
}

async fn received(app: &TestApp, token: &str) -> Vec<Value> {
    received_by(app, "acme", token).await
}

async fn received_by(app: &TestApp, tenant: &str, token: &str) -> Vec<Value> {
    let resp = app
        .as_user(Method::GET, "/api/relay/received", tenant, token)
        .send()
        .await
        .expect(200);
    resp.body.as_array().expect("a list").clone()
}

/// A platform admin's GET, expected to succeed; answers the resp.
async fn admin_get(app: &TestApp, path: &str) -> mosaic_tests::Resp {
    app.req(Method::GET, path)
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
}

/// Polls `received` until it holds `count` events (or more), for up to ten seconds.
async fn wait_for_received(app: &TestApp, token: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got = received(app, token).await;
        if got.len() >= count {
            return got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {} of {count} events delivered: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` on the relay's delivery rows until it holds.
async fn wait_for_deliveries(app: &TestApp, what: &str, check: impl Fn(&[(i64, String)]) -> bool) {
    let data = app.module_data("acme").await;
    let started = Instant::now();
    loop {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT attempts, state FROM event_deliveries ORDER BY event_seq")
                .fetch_all(&data.pool)
                .await
                .expect("deliveries");
        if check(&rows) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waiting for {what}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn module_settings_are_set_by_platform_admins(backend: Backend) {
    let app = relay(backend).await;
    let admin = app.admin_token();
    let path = "/api/admin/tenants/acme/modules/relay/settings";
    let resp = admin_get(&app, path).await;
    assert_eq!(resp.body, json!({}));
    set_settings(&app, json!({"event_delay_ms": 5, "nested": {"a": [1, 2]}})).await;
    let resp = admin_get(&app, path).await;
    assert_eq!(
        resp.body,
        json!({"event_delay_ms": 5, "nested": {"a": [1, 2]}})
    );
    // Bad input.
    let put = async |path: &str, body: &str, token: Option<&str>| {
        let mut req = app
            .req(Method::PUT, path)
            .header("content-type", "application/json")
            .raw(body.to_owned());
        if let Some(token) = token {
            req = req.bearer(token);
        }
        req.send().await
    };
    put(path, "[1, 2]", Some(&admin)).await.expect(422);
    put(path, "{\"broken\"", Some(&admin)).await.expect(400);
    put(
        "/api/admin/tenants/acme/modules/nope/settings",
        "{}",
        Some(&admin),
    )
    .await
    .expect_error(404, "not_found");
    put(
        "/api/admin/tenants/nobody/modules/relay/settings",
        "{}",
        Some(&admin),
    )
    .await
    .expect_error(404, "not_found");
    put(path, "{}", None).await.expect(401);
    let member = app.token("acme", Role::TenantAdmin).await;
    put(path, "{}", Some(&member)).await.expect(403);
    // Audited, with what it replaced.
    let resp = admin_get(&app, "/api/admin/audit?action=module.settings").await;
    assert_eq!(
        resp.body["items"][0]["after"]["event_delay_ms"], 5,
        "{}",
        resp.body
    );
}

async fn events_reach_subscribers_in_order_as_system_calls(backend: Backend) {
    let app = relay(backend).await;
    let token = app.token("acme", Role::TenantAdmin).await;
    for batch in 0..4 {
        let events: Vec<Value> = (0..5)
            .map(|i| json!({"kind": "relay.counted", "subject": format!("n{}", batch * 5 + i), "data": {"n": batch * 5 + i}}))
            .collect();
        emit(&app, &token, &events).await;
    }
    // The employees module's own event, to a subscriber of `employee.created`.
    app.as_user(Method::POST, "/api/employees/", "acme", &token)
        .json(&json!({"name": "Ada Lovelace", "email": "ada@acme.test", "salary": 5000, "hired_on": "2026-01-05"}))
        .send()
        .await
        .expect(201);
    let got = wait_for_received(&app, &token, 21).await;
    let counted: Vec<i64> = got
        .iter()
        .filter(|e| e["kind"] == "relay.counted")
        .map(|e| e["data"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(counted, (0..20).collect::<Vec<_>>(), "in order per source");
    let created = got
        .iter()
        .find(|e| e["kind"] == "employee.created")
        .expect("employee.created delivered");
    assert_eq!(created["source"], "employees");
    assert_eq!(created["data"]["email"], "ada@acme.test");
    assert!(got.iter().all(|e| e["system_call"] == true), "no caller");

    // The admin view: every event delivered, nothing pending.
    let resp = admin_get(&app, "/api/admin/events?tenant=acme&limit=100").await;
    let events = resp.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 21);
    assert!(
        events
            .iter()
            .all(|e| e["pending"] == json!([]) && e["delivered_at"].is_i64())
    );
    assert!(
        events.iter().all(|e| e["data"].is_object()),
        "data shown as JSON"
    );
    // Bad admin input.
    app.req(Method::GET, "/api/admin/events?tenant=nobody")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect_error(404, "not_found");
    app.req(Method::GET, "/api/admin/events?tenant=acme&limit=0")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(400);
    app.req(Method::GET, "/api/admin/events?tenant=acme")
        .send()
        .await
        .expect(401);
}

async fn a_failing_subscriber_is_retried_and_takes_the_event_once(backend: Backend) {
    let app = relay(backend).await;
    let token = app.token("acme", Role::TenantAdmin).await;
    set_settings(&app, json!({"refuse_events": true})).await;
    emit(&app, &token, &[json!({"kind": "relay.first"})]).await;
    emit(&app, &token, &[json!({"kind": "relay.second"})]).await;
    // The first fails again and again; the second waits behind it.
    wait_for_deliveries(&app, "three failed attempts", |rows| {
        rows.len() == 2 && rows[0].0 >= 3 && rows[1].0 == 0
    })
    .await;
    assert!(received(&app, &token).await.is_empty());
    set_settings(&app, json!({})).await;
    let got = wait_for_received(&app, &token, 2).await;
    let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["relay.first", "relay.second"]);
    wait_for_deliveries(&app, "no delivery left", <[_]>::is_empty).await;
    // Each was handled once: the failed attempts left no writes behind.
    let resp = app
        .as_user(Method::GET, "/api/relay/deliveries", "acme", &token)
        .send()
        .await
        .expect(200);
    assert_eq!(resp.body["count"], 2);
}

async fn dead_letters_are_listed_and_replayed(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_guest("relay")
        .with_tenant("acme", &["relay"])
        .with_events(|e| e.max_attempts = 3)
        .start()
        .await;
    let token = app.token("acme", Role::TenantAdmin).await;
    let admin = app.admin_token();
    set_settings(&app, json!({"trap_events": true})).await;
    emit(
        &app,
        &token,
        &[json!({"kind": "relay.doomed", "subject": "d1"})],
    )
    .await;
    wait_for_deliveries(&app, "a dead letter", |rows| {
        rows.len() == 1 && rows[0].1 == "dead"
    })
    .await;
    let resp = admin_get(&app, "/api/admin/events/dead-letters").await;
    let letters = resp.body["dead_letters"].as_array().expect("list").clone();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["subscriber"], "relay");
    assert_eq!(letter["attempts"], 3);
    assert_eq!(letter["event"]["kind"], "relay.doomed");
    assert!(
        letter["last_error"].as_str().unwrap().contains("trap"),
        "{letter}"
    );
    let event_id = letter["event"]["id"].as_str().unwrap().to_owned();
    // Bad replays.
    let replay = async |body: Value| {
        app.req(Method::POST, "/api/admin/events/dead-letters/replay")
            .bearer(&admin)
            .json(&body)
            .send()
            .await
    };
    replay(json!({"tenant": "acme", "event_id": event_id}))
        .await
        .expect(400);
    replay(json!({"tenant": "acme", "event_id": "nope", "subscriber": "relay"}))
        .await
        .expect_error(404, "not_found");
    replay(json!({"tenant": "nobody"}))
        .await
        .expect_error(404, "not_found");
    replay(json!({"tenant": "acme", "all": true}))
        .await
        .expect(422);
    // Fixed, and replayed: delivered once, and no dead letter left.
    set_settings(&app, json!({})).await;
    let resp = replay(json!({"tenant": "acme", "event_id": event_id, "subscriber": "relay"}))
        .await
        .expect(200);
    assert_eq!(resp.body["replayed"], 1);
    let got = wait_for_received(&app, &token, 1).await;
    assert_eq!(got[0]["event_id"], event_id.as_str());
    wait_for_deliveries(&app, "no delivery left", <[_]>::is_empty).await;
    let resp = admin_get(&app, "/api/admin/events/dead-letters?tenant=acme").await;
    assert_eq!(resp.body["dead_letters"], json!([]));
    // The replay is audited.
    let resp = admin_get(&app, "/api/admin/audit?action=events.replay").await;
    assert_eq!(
        resp.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        resp.body
    );
}

async fn a_disabled_subscriber_receives_nothing_while_disabled(backend: Backend) {
    let app = relay(backend).await;
    let token = app.token("acme", Role::TenantAdmin).await;
    let toggle = async |enabled: bool| {
        app.req(Method::POST, "/api/admin/tenants/acme/modules/relay")
            .bearer(&app.admin_token())
            .json(&json!({ "enabled": enabled }))
            .send()
            .await
            .expect(200);
    };
    let hire = async |email: &str| {
        app.as_user(Method::POST, "/api/employees/", "acme", &token)
            .json(&json!({"name": "E", "email": email, "salary": 100, "hired_on": "2026-01-05"}))
            .send()
            .await
            .expect(201);
    };
    toggle(false).await;
    hire("while-off@acme.test").await;
    toggle(true).await;
    hire("while-on@acme.test").await;
    let got = wait_for_received(&app, &token, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_later = received(&app, &token).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got_later.len(), 1, "{got_later:?}");
    assert_eq!(got[0]["data"]["email"], "while-on@acme.test");
}

async fn delivered_events_are_pruned_after_their_retention(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_guest("relay")
        .with_tenant("acme", &["relay"])
        .start()
        .await;
    let token = app.token("acme", Role::TenantAdmin).await;
    emit(
        &app,
        &token,
        &[json!({"kind": "relay.old"}), json!({"kind": "relay.old"})],
    )
    .await;
    wait_for_received(&app, &token, 2).await;
    let tenant_id = app.tenant_id("acme").await;
    let data = app.module_data("acme").await;
    // Delivered long ago (moved back in time), and one event still pending.
    sqlx::query("UPDATE event_outbox SET delivered_at = 1")
        .execute(&data.pool)
        .await
        .expect("age the events");
    set_settings(&app, json!({"refuse_events": true})).await;
    emit(&app, &token, &[json!({"kind": "relay.pending"})]).await;
    // As the deliverer prunes: every tenant's module data at once.
    let pruned = app
        .state
        .db
        .prune_events(mosaic::store::now_ms() - 1000)
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM event_outbox WHERE tenant_id = $1")
            .bind(&tenant_id)
            .fetch_all(&data.pool)
            .await
            .expect("outbox");
    assert_eq!(left, ["relay.pending"], "an undelivered event is kept");
}

async fn a_slow_subscriber_never_holds_another_tenants_events(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_guest("relay")
        .with_tenant("acme", &["relay"])
        .with_tenant("globex", &["relay"])
        .start()
        .await;
    // Acme's relay takes 1.5 s over each event: three of them hold its stream 4.5 s.
    set_settings(&app, json!({"event_delay_ms": 1500})).await;
    let acme = app.token("acme", Role::TenantAdmin).await;
    let kinds: Vec<Value> = (0..3).map(|_| json!({"kind": "relay.slow"})).collect();
    emit(&app, &acme, &kinds).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let globex = app.token("globex", Role::TenantAdmin).await;
    let started = Instant::now();
    app.as_user(Method::POST, "/api/relay/emit", "globex", &globex)
        .json(&json!([{"kind": "relay.quick"}]))
        .send()
        .await
        .expect(202);
    loop {
        if received_by(&app, "globex", &globex).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "globex waited {:?} behind acme's slow subscriber",
        started.elapsed()
    );
}

const SECRET: &str = "events-test-secret-of-32-bytes-or-more";

fn admin_token() -> String {
    JwtKeys::new(SECRET.as_bytes(), &[])
        .expect("a strong secret")
        .issue(&Claims::new(
            "platform-admin".into(),
            None,
            Role::SuperAdmin,
            600,
        ))
        .expect("sign")
}

/// Creates tenant `acme` with the relay through `host`, and answers a tenant
/// admin's token and the tenant's id.
async fn create_acme(client: &Client, host: &Replica) -> (String, String) {
    let resp = client
        .post(host.url("/api/admin/tenants"))
        .bearer_auth(admin_token())
        .json(&json!({"name": "Acme", "subdomain": "acme", "modules": ["relay"]}))
        .send()
        .await
        .expect("create tenant");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    let tenant_id = body["id"].as_str().expect("tenant id").to_owned();
    let token = JwtKeys::new(SECRET.as_bytes(), &[])
        .expect("a strong secret")
        .issue(&Claims::new(
            "u-1".into(),
            Some(tenant_id.clone()),
            Role::TenantAdmin,
            600,
        ))
        .expect("sign");
    (token, tenant_id)
}

async fn relay_call(
    client: &Client,
    host: &Replica,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = client
        .request(method, host.url(path))
        .bearer_auth(token)
        .header("X-Tenant-ID", "acme");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

async fn wait_for_count(
    client: &Client,
    host: &Replica,
    token: &str,
    path: &str,
    count: usize,
) -> Value {
    let started = Instant::now();
    loop {
        let got = relay_call(client, host, token, Method::GET, path, None).await;
        // A list, a page of `items`, or a `count`.
        let n = got
            .as_array()
            .or_else(|| got["items"].as_array())
            .map_or_else(|| got["count"].as_u64().unwrap_or(0) as usize, Vec::len);
        if n >= count {
            return got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path}: {n} of {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn relay_flags() -> Vec<String> {
    vec![
        "--module".into(),
        wasm("relay").display().to_string(),
        "--event-retry-base-ms".into(),
        "50".into(),
    ]
}

#[tokio::test]
async fn a_host_killed_mid_delivery_delivers_after_restart() {
    let client = Client::new();
    let serve = || {
        let mut command = mosaic_command(crate::MOSAIC);
        command
            .args(["--jwt-secret", SECRET])
            .args(["serve", "--addr", "127.0.0.1:0", "--no-demo"])
            .args(relay_flags());
        command
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Replica::spawn(serve(), dir).await;
    let (token, _) = create_acme(&client, &first).await;
    // The subscriber takes 1.5 s over each delivery: the host dies in the middle of
    // the first, after the emitter's commit and before the delivery's.
    let settings = json!({"event_delay_ms": 1500});
    let resp = client
        .put(first.url("/api/admin/tenants/acme/modules/relay/settings"))
        .bearer_auth(admin_token())
        .json(&settings)
        .send()
        .await
        .expect("settings");
    assert_eq!(resp.status(), 200);
    relay_call(
        &client,
        &first,
        &token,
        Method::POST,
        "/api/relay/emit",
        Some(json!([{"kind": "relay.survivor"}])),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let dir = first.kill().await;
    let second = Replica::spawn(serve(), dir).await;
    let got = wait_for_count(&client, &second, &token, "/api/relay/received", 1).await;
    assert_eq!(got[0]["kind"], "relay.survivor");
    let deliveries = relay_call(
        &client,
        &second,
        &token,
        Method::GET,
        "/api/relay/deliveries",
        None,
    )
    .await;
    assert_eq!(deliveries["count"], 1, "handled once");
}

#[tokio::test]
async fn two_replicas_deliver_each_event_once() {
    let db = TestDatabase::create().await;
    let flags = relay_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = Replica::start(crate::MOSAIC, &db.url, SECRET, &flags).await;
    let b = Replica::start(crate::MOSAIC, &db.url, SECRET, &flags).await;
    let client = Client::new();
    let (token, _) = create_acme(&client, &a).await;
    for round in 0..10 {
        for host in [&a, &b] {
            let events: Vec<Value> = (0..3)
                .map(|i| json!({"kind": "relay.counted", "data": {"n": round * 6 + i + if std::ptr::eq(host, &a) { 0 } else { 3 }}}))
                .collect();
            relay_call(
                &client,
                host,
                &token,
                Method::POST,
                "/api/relay/emit",
                Some(json!(events)),
            )
            .await;
        }
    }
    let got = wait_for_count(&client, &b, &token, "/api/relay/received", 60).await;
    let order: Vec<i64> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..60).collect::<Vec<_>>(), "in commit order");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deliveries = relay_call(
        &client,
        &a,
        &token,
        Method::GET,
        "/api/relay/deliveries",
        None,
    )
    .await;
    assert_eq!(deliveries["count"], 60, "each event handled once");
}

#[tokio::test]
async fn an_employee_hired_through_one_replica_is_a_notification_on_the_other() {
    let db = TestDatabase::create().await;
    let flags = relay_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = Replica::start(crate::MOSAIC, &db.url, SECRET, &flags).await;
    let b = Replica::start(crate::MOSAIC, &db.url, SECRET, &flags).await;
    let client = Client::new();
    let (admin, tenant_id) = create_acme(&client, &a).await;
    let invited = relay_call(
        &client,
        &a,
        &admin,
        Method::POST,
        "/api/users/",
        Some(json!({"email": "ada@acme.test", "full_name": "Ada", "role": "MEMBER"})),
    )
    .await;
    let claims = Claims::new(
        invited["id"].as_str().expect("user id").into(),
        Some(tenant_id),
        Role::Member,
        600,
    );
    let ada = JwtKeys::new(SECRET.as_bytes(), &[])
        .expect("a strong secret")
        .issue(&claims)
        .expect("sign");
    relay_call(
        &client,
        &b,
        &admin,
        Method::POST,
        "/api/employees/",
        Some(
            json!({"name": "Ada", "email": "ada@acme.test", "salary": 1, "hired_on": "2026-01-05"}),
        ),
    )
    .await;
    let page = wait_for_count(&client, &a, &ada, "/api/notifications/", 1).await;
    assert_eq!(page["items"][0]["kind"], "employee.created");
}
