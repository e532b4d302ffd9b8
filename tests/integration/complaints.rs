//! The complaints module (issue #12): tickets with an SLA from their priority, the
//! status flow, internal notes, the overdue list, breaches marked on schedule with
//! the clock moved, who sees what, and the gate.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic::clock::Clock;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    tickets_move_along_their_flow,
    tickets_are_checked,
    internal_notes_are_for_managers,
    a_breached_sla_is_marked_on_schedule,
    complaints_are_gated_and_isolated,
);

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> mosaic_tests::Req {
    app.as_user(method, &format!("/api/complaints{path}"), "demo", token)
}

async fn submit(app: &TestApp, token: &str, body: Value) -> Value {
    call(app, Method::POST, "/", token)
        .json(&body)
        .send()
        .await
        .expect(201)
        .body
}

fn ticket(priority: &str) -> Value {
    json!({"title": "Broken chair", "description": "It wobbles", "category": "facilities", "priority": priority})
}

async fn tickets_move_along_their_flow(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["complaints"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let before = mosaic::store::now_ms() as u64;
    let opened = submit(&app, &ada, ticket("HIGH")).await;
    assert_eq!(opened["status"], "OPEN");
    assert_eq!(opened["submitter_id"], "user-ada@demo.test");
    let due = opened["sla_due_at"].as_u64().unwrap();
    assert!(
        due >= before + 24 * 3_600_000 && due < before + 25 * 3_600_000,
        "{due}"
    );
    let id = opened["id"].as_str().unwrap();
    let set = |token: &str, status: &str| {
        call(&app, Method::PATCH, &format!("/{id}"), token).json(&json!({"status": status}))
    };

    let refused = set(&manager, "CLOSED")
        .send()
        .await
        .expect_error(409, "conflict");
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("allowed: IN_PROGRESS")
    );
    // The submitter does not work on the ticket.
    set(&ada, "IN_PROGRESS")
        .send()
        .await
        .expect_error(403, "forbidden");
    set(&manager, "IN_PROGRESS").send().await.expect(200);
    let resolved = set(&manager, "RESOLVED").send().await.expect(200).body;
    assert_eq!(resolved["open"], false);
    assert!(resolved["resolved_at"].as_u64().is_some());
    // The submitter reopens it, and its SLA starts again.
    let reopened = set(&ada, "REOPENED").send().await.expect(200).body;
    assert_eq!(reopened["open"], true);
    assert!(reopened["sla_due_at"].as_u64().unwrap() >= due);
    set(&manager, "RESOLVED")
        .send()
        .await
        .expect_error(409, "conflict");
    set(&manager, "IN_PROGRESS").send().await.expect(200);
    set(&manager, "RESOLVED").send().await.expect(200);
    let closed = set(&manager, "CLOSED").send().await.expect(200).body;
    assert!(closed["closed_at"].as_u64().is_some());
    set(&ada, "REOPENED").send().await.expect(200);
    set(&manager, "PENDING")
        .send()
        .await
        .expect_error(422, "validation_failed");
    // A new priority moves the due time, from when the SLA (re)started.
    let raised = call(&app, Method::PATCH, &format!("/{id}"), &manager)
        .json(&json!({"priority": "URGENT"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(
        raised["sla_due_at"].as_u64().unwrap(),
        raised["sla_started_at"].as_u64().unwrap() + 4 * 3_600_000
    );

    // Members see their own tickets, managers every one.
    let bob = app
        .token_with_email("demo", Role::Member, "bob@demo.test")
        .await;
    submit(&app, &bob, ticket("LOW")).await;
    let own = call(&app, Method::GET, "/", &ada)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let all = call(&app, Method::GET, "/", &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    call(&app, Method::GET, &format!("/{id}"), &bob)
        .send()
        .await
        .expect_error(404, "not_found");
    let low = call(&app, Method::GET, "/?priority=LOW", &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(low["items"].as_array().unwrap().len(), 1);
    call(&app, Method::GET, "/overdue", &ada)
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn tickets_are_checked(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["complaints"])
        .start()
        .await;
    let member = app.token("demo", Role::Member).await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    for (body, field) in [
        (json!({"description": "x", "category": "c"}), "title"),
        (json!({"title": "t", "category": "c"}), "description"),
        (json!({"title": "t", "description": "x"}), "category"),
        (
            json!({"title": "t", "description": "x", "category": "c", "priority": "SOON"}),
            "priority",
        ),
        (
            json!({"title": "t", "description": "x", "category": "c", "mood": "bad"}),
            "mood",
        ),
    ] {
        let refused = call(&app, Method::POST, "/", &member)
            .json(&body)
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"][field].is_string(),
            "{}",
            refused.text
        );
    }
    call(&app, Method::POST, "/", &member)
        .raw("{\"title\":")
        .send()
        .await
        .expect_error(400, "bad_request");
    // Only managers assign, and only to active employees.
    let mut assigned = ticket("URGENT");
    assigned["assignee_id"] = json!(ada);
    call(&app, Method::POST, "/", &member)
        .json(&assigned)
        .send()
        .await
        .expect_error(403, "forbidden");
    let mut nobody = ticket("URGENT");
    nobody["assignee_id"] = json!("no-such-employee");
    call(&app, Method::POST, "/", &manager)
        .json(&nobody)
        .send()
        .await
        .expect_error(422, "validation_failed");
    let made = submit(&app, &manager, assigned).await;
    assert_eq!(made["assignee_id"], ada.as_str());

    // The SLA is the tenant's: URGENT in 1 hour here; wrong settings say so.
    app.set_module_settings("demo", "complaints", &json!({"sla_hours": {"URGENT": 1}}))
        .await;
    let now = mosaic::store::now_ms() as u64;
    let quick = submit(&app, &member, ticket("URGENT")).await;
    let due = quick["sla_due_at"].as_u64().unwrap();
    assert!(due >= now + 3_600_000 && due < now + 2 * 3_600_000, "{due}");
    app.set_module_settings("demo", "complaints", &json!({"sla_hours": {"URGENT": 0}}))
        .await;
    call(&app, Method::POST, "/", &member)
        .json(&ticket("URGENT"))
        .send()
        .await
        .expect_error(409, "conflict");
}

async fn internal_notes_are_for_managers(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["complaints"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let opened = submit(&app, &ada, ticket("MEDIUM")).await;
    let id = opened["id"].as_str().unwrap();
    let comment = |token: &str, body: Value| {
        call(&app, Method::POST, &format!("/{id}/comments"), token).json(&body)
    };
    comment(&ada, json!({"body": "Still wobbly"}))
        .send()
        .await
        .expect(201);
    comment(&ada, json!({"body": "Psst", "internal": true}))
        .send()
        .await
        .expect_error(403, "forbidden");
    comment(
        &manager,
        json!({"body": "Vendor is slow", "internal": true}),
    )
    .send()
    .await
    .expect(201);
    comment(&manager, json!({"body": "On it"}))
        .send()
        .await
        .expect(201);
    comment(&manager, json!({"body": ""}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let seen = |token: &str| {
        let req = call(&app, Method::GET, &format!("/{id}/comments"), token);
        async move {
            req.send().await.expect(200).body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["body"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(seen(&ada).await, ["Still wobbly", "On it"]);
    assert_eq!(
        seen(&manager).await,
        ["Still wobbly", "Vendor is slow", "On it"]
    );
    let bob = app
        .token_with_email("demo", Role::Member, "bob@demo.test")
        .await;
    call(&app, Method::GET, &format!("/{id}/comments"), &bob)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn a_breached_sla_is_marked_on_schedule(backend: Backend) {
    let clock = Clock::manual(mosaic::store::now_ms());
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_clock(&clock)
        .with_tenant("demo", &["complaints"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let member = app.token("demo", Role::Member).await;
    let urgent = submit(&app, &member, ticket("URGENT")).await;
    let low = submit(&app, &member, ticket("LOW")).await;
    let overdue = call(&app, Method::GET, "/overdue", &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(overdue["items"], json!([]));

    // Five hours on, the URGENT ticket (4 h) is past its SLA; the LOW one is not.
    let started = Instant::now();
    let marked = loop {
        clock.advance(Duration::from_secs(600));
        let doc = call(
            &app,
            Method::GET,
            &format!("/{}", urgent["id"].as_str().unwrap()),
            &manager,
        )
        .send()
        .await
        .expect(200)
        .body;
        if doc["sla_breached"] == true {
            break doc;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never marked");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    let breached_at = marked["breached_at"].as_u64().unwrap();
    assert!(breached_at > marked["sla_due_at"].as_u64().unwrap());
    let low = call(
        &app,
        Method::GET,
        &format!("/{}", low["id"].as_str().unwrap()),
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(low["sla_breached"], false);
    let events = app
        .req(Method::GET, "/api/admin/events?tenant=demo&limit=50")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    let breaches = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "complaint.sla_breached")
        .count();
    assert_eq!(breaches, 1);
}

async fn complaints_are_gated_and_isolated(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["complaints"])
        .with_tenant("acme", &[])
        .with_tenant("globex", &["complaints"])
        .start()
        .await;
    let acme = app.token("acme", Role::Manager).await;
    app.as_user(Method::GET, "/api/complaints/", "acme", &acme)
        .send()
        .await
        .expect_gated("complaints");
    let member = app.token("demo", Role::Member).await;
    let opened = submit(&app, &member, ticket("HIGH")).await;
    let globex = app.token("globex", Role::Manager).await;
    let path = format!("/api/complaints/{}", opened["id"].as_str().unwrap());
    app.as_user(Method::GET, &path, "globex", &globex)
        .send()
        .await
        .expect_error(404, "not_found");
    let listed = app
        .as_user(Method::GET, "/api/complaints/", "globex", &globex)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"], json!([]));
}
