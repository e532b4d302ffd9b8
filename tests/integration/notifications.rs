//! The notifications module and the host's `notify` (issue #10): other modules'
//! events become in-app notifications for the people they are about, each user sees
//! only their own, and their preferences decide between the app and mail.

use std::time::{Duration, Instant};

use mosaic::auth::{Claims, Role};
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    an_employee_event_reaches_that_users_inbox_only,
    notifications_are_read_one_and_all,
    preferences_choose_the_app_or_mail,
    attendance_is_announced_to_the_employee,
    messages_are_checked_and_capped
);

/// A user of `tenant`, invited by its admin, and a token of theirs.
async fn user(app: &TestApp, tenant: &str, email: &str) -> String {
    let admin = app.token(tenant, Role::TenantAdmin).await;
    let invited = app
        .as_user(Method::POST, "/api/users/", tenant, &admin)
        .json(&json!({"email": email, "full_name": email, "role": "MEMBER"}))
        .send()
        .await
        .expect(201)
        .body;
    let id = invited["id"].as_str().expect("user id").to_owned();
    let tenant_id = app.tenant_id(tenant).await;
    app.sign(&Claims::new(id, Some(tenant_id), Role::Member, 600))
}

async fn inbox(app: &TestApp, tenant: &str, token: &str, query: &str) -> Vec<Value> {
    let resp = app
        .as_user(
            Method::GET,
            &format!("/api/notifications/{query}"),
            tenant,
            token,
        )
        .send()
        .await
        .expect(200);
    resp.body["items"].as_array().expect("items").clone()
}

/// Polls the inbox until it holds `count` notifications.
async fn wait_for_inbox(app: &TestApp, tenant: &str, token: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let items = inbox(app, tenant, token, "").await;
        if items.len() >= count {
            return items;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} of {count} notifications: {items:?}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn unread(app: &TestApp, tenant: &str, token: &str) -> u64 {
    app.as_user(
        Method::GET,
        "/api/notifications/unread-count",
        tenant,
        token,
    )
    .send()
    .await
    .expect(200)
    .body["unread"]
        .as_u64()
        .expect("a count")
}

async fn an_employee_event_reaches_that_users_inbox_only(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .with_tenant("globex", &[])
        .start()
        .await;
    let ada = user(&app, "acme", "ada@acme.test").await;
    let bob = user(&app, "acme", "bob@acme.test").await;
    // The same address in another tenant is another person.
    let globex_ada = user(&app, "globex", "ada@acme.test").await;
    app.hire("acme", "Ada Lovelace", "ada@acme.test", 100).await;
    let items = wait_for_inbox(&app, "acme", &ada, 1).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "employee.created");
    assert_eq!(items[0]["source"], "notifications");
    assert_eq!(items[0]["read"], false);
    assert!(items[0]["body"].as_str().unwrap().contains("Ada Lovelace"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        inbox(&app, "acme", &bob, "").await.is_empty(),
        "another user"
    );
    assert!(
        inbox(&app, "globex", &globex_ada, "").await.is_empty(),
        "another tenant"
    );
    assert_eq!(unread(&app, "acme", &ada).await, 1);
    // An employee with no user account is nobody to tell: the delivery succeeds.
    app.hire("acme", "Ada Lovelace", "nobody@acme.test", 100)
        .await;
    let tenant_id = app.tenant_id("acme").await;
    let data = app.module_data("acme").await;
    let started = Instant::now();
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM event_deliveries WHERE tenant_id = $1")
                .bind(&tenant_id)
                .fetch_one(&data.pool)
                .await
                .expect("deliveries");
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{left} deliveries left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Without a token there is no inbox.
    app.req(Method::GET, "/api/notifications/")
        .header("x-tenant-id", "acme")
        .send()
        .await
        .expect(401);
}

async fn notifications_are_read_one_and_all(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let ada = user(&app, "acme", "ada@acme.test").await;
    let bob = user(&app, "acme", "bob@acme.test").await;
    let employee = app.hire("acme", "Ada Lovelace", "ada@acme.test", 100).await;
    let admin = app.token("acme", Role::TenantAdmin).await;
    for position in ["Analyst", "Countess"] {
        app.as_user(
            Method::PATCH,
            &format!("/api/employees/{employee}"),
            "acme",
            &admin,
        )
        .json(&json!({ "position": position }))
        .send()
        .await
        .expect(200);
    }
    let items = wait_for_inbox(&app, "acme", &ada, 3).await;
    let kinds: Vec<&str> = items.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["employee.updated", "employee.updated", "employee.created"],
        "newest first"
    );
    let first = items[2]["id"].as_str().unwrap().to_owned();
    // Another user's notification does not exist for bob.
    app.as_user(
        Method::POST,
        &format!("/api/notifications/{first}/read"),
        "acme",
        &bob,
    )
    .send()
    .await
    .expect_error(404, "not_found");
    app.as_user(Method::POST, "/api/notifications/nope/read", "acme", &ada)
        .send()
        .await
        .expect_error(404, "not_found");
    let read = app
        .as_user(
            Method::POST,
            &format!("/api/notifications/{first}/read"),
            "acme",
            &ada,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(read["read"], true);
    assert_eq!(unread(&app, "acme", &ada).await, 2);
    assert_eq!(inbox(&app, "acme", &ada, "?unread=true").await.len(), 2);
    app.as_user(
        Method::GET,
        "/api/notifications/?unread=maybe",
        "acme",
        &ada,
    )
    .send()
    .await
    .expect_error(422, "validation_failed");
    let marked = app
        .as_user(Method::POST, "/api/notifications/read-all", "acme", &ada)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(marked["marked"], 2);
    assert_eq!(unread(&app, "acme", &ada).await, 0);
    assert!(inbox(&app, "acme", &ada, "?unread=true").await.is_empty());
    assert_eq!(
        inbox(&app, "acme", &ada, "").await.len(),
        3,
        "read, not gone"
    );
    // Cursor pages.
    let page = app
        .as_user(Method::GET, "/api/notifications/?limit=2", "acme", &ada)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = inbox(&app, "acme", &ada, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["id"], first.as_str());
}

async fn preferences_choose_the_app_or_mail(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let ada = user(&app, "acme", "ada@acme.test").await;
    let prefs = |body: Value| {
        app.as_user(
            Method::PATCH,
            "/api/notifications/preferences",
            "acme",
            &ada,
        )
        .json(&body)
        .send()
    };
    let got = app
        .as_user(Method::GET, "/api/notifications/preferences", "acme", &ada)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(got, json!({"kinds": {}}));
    for bad in [
        json!({"kinds": {"employee.updated": {"sms": true}}}),
        json!({"kinds": {"employee.updated": {"email": "yes"}}}),
        json!({"kinds": {"Not A Kind": {"email": true}}}),
        json!({"kinds": []}),
        json!({"kinds": {}, "extra": 1}),
    ] {
        prefs(bad).await.expect_error(422, "validation_failed");
    }
    let set = prefs(json!({"kinds": {"employee.updated": {"in_app": false, "email": true}}}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        set["kinds"]["employee.updated"],
        json!({"in_app": false, "email": true})
    );
    let employee = app.hire("acme", "Ada Lovelace", "ada@acme.test", 100).await;
    wait_for_inbox(&app, "acme", &ada, 1).await;
    let admin = app.token("acme", Role::TenantAdmin).await;
    app.as_user(
        Method::PATCH,
        &format!("/api/employees/{employee}"),
        "acme",
        &admin,
    )
    .json(&json!({ "position": "Countess" }))
    .send()
    .await
    .expect(200);
    // The update comes by mail, not in the app.
    let started = Instant::now();
    loop {
        let mail = app.state.db.recent_mail(20).await.expect("mail");
        if mail
            .iter()
            .any(|m| m.to_email == "ada@acme.test" && m.subject.contains("changed"))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no mail: {mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kinds: Vec<String> = inbox(&app, "acme", &ada, "")
        .await
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["employee.created"]);
    // `null` forgets a kind: back to the app.
    let set = prefs(json!({"kinds": {"employee.updated": null}}))
        .await
        .expect(200)
        .body;
    assert_eq!(set, json!({"kinds": {}}));
}

async fn attendance_is_announced_to_the_employee(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &["attendance"])
        .start()
        .await;
    let ada = user(&app, "acme", "ada@acme.test").await;
    let employee = app.hire("acme", "Ada Lovelace", "ada@acme.test", 100).await;
    let admin = app.token("acme", Role::TenantAdmin).await;
    app.as_user(Method::POST, "/api/attendance/check-in", "acme", &admin)
        .json(&json!({ "employee_id": employee }))
        .send()
        .await
        .expect(201);
    let items = wait_for_inbox(&app, "acme", &ada, 2).await;
    assert_eq!(items[0]["kind"], "attendance.checked_in");
    assert_eq!(items[0]["subject"], "Checked in");
}

async fn messages_are_checked_and_capped(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_guest("relay")
        .with_tenant("acme", &["relay"])
        .with_tenant("globex", &[])
        .start()
        .await;
    let ada = user(&app, "acme", "ada@acme.test").await;
    user(&app, "globex", "eve@globex.test").await;
    let sender = app.token("acme", Role::Member).await;
    let send = async |message: Value| {
        app.as_user(Method::POST, "/api/relay/notify", "acme", &sender)
            .json(&message)
            .send()
            .await
            .expect(200)
            .body
    };
    let refused = |answer: &Value| answer["refused"].as_str().unwrap_or("").to_owned();
    let ok = send(json!({"to_email": "ADA@acme.test", "kind": "relay.hello", "subject": "Hi", "body": "From the relay"})).await;
    assert_eq!(
        ok,
        json!({"sent": 1, "refused": null}),
        "an address in any case"
    );
    let items = inbox(&app, "acme", &ada, "").await;
    assert_eq!(items[0]["source"], "relay");
    assert_eq!(items[0]["subject"], "Hi");
    // Nobody of this tenant: not the address of another tenant's user, nor a made-up one.
    for to in [
        json!({"to_email": "eve@globex.test"}),
        json!({"to_user": "nobody"}),
    ] {
        let mut message = json!({"kind": "relay.hello", "subject": "Hi", "body": ""});
        message
            .as_object_mut()
            .unwrap()
            .extend(to.as_object().unwrap().clone());
        assert!(refused(&send(message).await).contains("NotFound"));
    }
    for (bad, why) in [
        (
            json!({"to_email": "ada@acme.test", "kind": "Not A Kind", "subject": "", "body": ""}),
            "invalid notification kind",
        ),
        (
            json!({"to_email": "ada@acme.test", "kind": "relay.hi", "subject": "x".repeat(201), "body": ""}),
            "at most 200 bytes",
        ),
        (
            json!({"to_email": "ada@acme.test", "kind": "relay.hi", "subject": "", "body": "x".repeat(4097)}),
            "at most 200 bytes",
        ),
    ] {
        let answer = send(bad).await;
        assert!(refused(&answer).contains(why), "{answer}");
    }
    // At most 100 per request. The relay answers 200 after the refusal, so the
    // hundred it sent stand.
    let capped = send(json!({"to_email": "ada@acme.test", "kind": "relay.flood", "subject": "", "body": "", "times": 150})).await;
    assert_eq!(capped["sent"], 100);
    assert!(
        refused(&capped).contains("at most 100 messages"),
        "{capped}"
    );
    assert_eq!(
        inbox(&app, "acme", &ada, "?limit=100").await.len(),
        100,
        "a page"
    );
    assert_eq!(unread(&app, "acme", &ada).await, 101);
}
