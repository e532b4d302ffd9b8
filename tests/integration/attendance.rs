//! The attendance module, and its calls into employees through the host.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(
    check_in_and_out,
    refuses_bad_sessions,
    the_working_day_is_the_tenants,
);

async fn hire(app: &TestApp, token: &str, email: &str, status: &str) -> String {
    hire_at(app, "demo", token, email, status).await
}

async fn hire_at(app: &TestApp, tenant: &str, token: &str, email: &str, status: &str) -> String {
    app.as_user(Method::POST, "/api/employees/", tenant, token)
        .json(&json!({"name": "Worker", "email": email, "salary": 100, "hired_on": "2025-03-01", "status": status}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn check_in_and_out(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &["attendance"])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let member = app.token("demo", Role::Member).await;
    let alice = hire(&app, &admin, "alice@example.com", "active").await;
    let bob = hire(&app, &admin, "bob@example.com", "active").await;

    let clock = |path: &'static str, employee: &str| {
        let req = app
            .as_user(Method::POST, path, "demo", &member)
            .json(&json!({"employee_id": employee}));
        async move { req.send().await }
    };
    let session = clock("/api/attendance/check-in", &alice)
        .await
        .expect(201)
        .body;
    assert_eq!(session["employee_id"], alice.as_str());
    assert!(session["check_out"].is_null());
    clock("/api/attendance/check-in", &bob).await.expect(201);

    let closed = clock("/api/attendance/check-out", &alice)
        .await
        .expect(200)
        .body;
    assert_eq!(closed["id"], session["id"]);
    assert!(
        closed["check_out"].as_u64().expect("check_out")
            >= closed["check_in"].as_u64().expect("check_in")
    );
    assert_eq!(closed["minutes"], 0);

    // A new session may start once the last one is closed.
    clock("/api/attendance/check-in", &alice).await.expect(201);

    let list = |query: String| {
        let req = app.as_user(
            Method::GET,
            &format!("/api/attendance/{query}"),
            "demo",
            &member,
        );
        async move { req.send().await }
    };
    let all = list(String::new()).await.expect(200).body;
    let all = all["items"].as_array().expect("items").clone();
    assert_eq!(all.len(), 3);
    // Newest first, and pages of one (a cursor on check_in) walk the same rows.
    let check_ins: Vec<u64> = all
        .iter()
        .map(|s| s["check_in"].as_u64().expect("check_in"))
        .collect();
    assert!(check_ins.windows(2).all(|w| w[0] >= w[1]), "{check_ins:?}");
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = list(query.clone()).await.expect(200).body;
        paged.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|s| s["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let ids: Vec<_> = all.iter().map(|s| s["id"].clone()).collect();
    assert_eq!(paged, ids);
    let alices = list(format!("?employee_id={alice}")).await.expect(200).body;
    assert_eq!(alices["items"].as_array().expect("items").len(), 2);
    let today = session["date"].as_str().expect("date");
    let dated = list(format!("?date={today}")).await.expect(200).body;
    assert_eq!(dated["items"].as_array().expect("items").len(), 3);
    let other_day = list("?date=2001-01-01".into()).await.expect(200).body;
    assert_eq!(other_day["items"], json!([]));
    list("?date=yesterday".into())
        .await
        .expect_error(422, "validation_failed");
}

async fn refuses_bad_sessions(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &["attendance"])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let active = hire(&app, &admin, "active@example.com", "active").await;
    let gone = hire(&app, &admin, "gone@example.com", "inactive").await;
    let clock = |path: &'static str, body: serde_json::Value| {
        let req = app.as_user(Method::POST, path, "demo", &admin).json(&body);
        async move { req.send().await }
    };

    clock("/api/attendance/check-out", json!({"employee_id": active}))
        .await
        .expect_error(409, "conflict");
    clock("/api/attendance/check-in", json!({"employee_id": active}))
        .await
        .expect(201);
    clock("/api/attendance/check-in", json!({"employee_id": active}))
        .await
        .expect_error(409, "conflict");

    let unknown = clock(
        "/api/attendance/check-in",
        json!({"employee_id": "no-such-person"}),
    )
    .await
    .expect_error(422, "validation_failed");
    assert_eq!(unknown.body["fields"]["employee_id"], "no such employee");
    let inactive = clock("/api/attendance/check-in", json!({"employee_id": gone}))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        inactive.body["fields"]["employee_id"],
        "employee is not active"
    );
    clock(
        "/api/attendance/check-in",
        json!({"employee_id": "../../admin"}),
    )
    .await
    .expect_error(422, "validation_failed");
    clock("/api/attendance/check-in", json!({"employee": active}))
        .await
        .expect_error(422, "validation_failed");
    clock("/api/attendance/check-in", json!({"employee_id": 42}))
        .await
        .expect_error(422, "validation_failed");
}

/// A check-in's date is the day in the tenant's time zone: two tenants 25 hours
/// apart never share one.
async fn the_working_day_is_the_tenants(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let admin = app.admin_token();
    let zones = [
        ("east", "Pacific/Kiritimati"),
        ("west", "Pacific/Pago_Pago"),
    ];
    for (subdomain, zone) in zones {
        app.req(Method::POST, "/api/admin/tenants")
            .bearer(&admin)
            .json(&json!({"name": subdomain, "subdomain": subdomain, "modules": ["attendance"], "timezone": zone}))
            .send()
            .await
            .expect(201);
    }
    let mut dates = Vec::new();
    for (subdomain, zone) in zones {
        let token = app.token(subdomain, Role::TenantAdmin).await;
        let worker = hire_at(&app, subdomain, &token, "w@example.com", "active").await;
        let today = || {
            jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::get(zone).expect("zone"))
                .date()
                .to_string()
        };
        let before = today();
        let session = app
            .as_user(Method::POST, "/api/attendance/check-in", subdomain, &token)
            .json(&json!({"employee_id": worker}))
            .send()
            .await
            .expect(201)
            .body;
        let date = session["date"].as_str().expect("date").to_owned();
        assert!(
            date == before || date == today(),
            "{zone}: {date} is not today there"
        );
        dates.push(date);
    }
    assert_ne!(dates[0], dates[1]);

    // A zone must exist.
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&admin)
        .json(&json!({"name": "Nowhere", "subdomain": "nowhere", "timezone": "Mars/Olympus"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let moved = app
        .req(Method::PATCH, "/api/admin/tenants/east")
        .bearer(&admin)
        .json(&json!({"timezone": "Europe/Paris"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(moved["timezone"], "Europe/Paris");
    // Zones are the bundled database's, spelled its way, whatever this machine has.
    let moved = app
        .req(Method::PATCH, "/api/admin/tenants/east")
        .bearer(&admin)
        .json(&json!({"timezone": "europe/berlin"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(moved["timezone"], "Europe/Berlin");
    for bad in [json!("UTC+2"), json!("posix/Europe/Paris"), json!(null)] {
        app.req(Method::PATCH, "/api/admin/tenants/east")
            .bearer(&admin)
            .json(&json!({ "timezone": bad }))
            .send()
            .await
            .expect_error(422, "validation_failed");
    }
}
