//! The reports module (issue #12): every section gathered from its owning module,
//! a section marked unavailable when its module is disabled, CSV exports, the
//! period, the gate and isolation between tenants.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    a_report_gathers_every_section,
    a_disabled_source_marks_its_section,
    reports_are_gated_and_isolated,
);

const SOURCES: &[(&str, &str)] = &[
    ("attendance", "attendance"),
    ("tasks", "tasks"),
    ("complaints", "complaints"),
    ("payouts", "wallet"),
];

async fn enterprise(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .on_plan("enterprise")
        .with_tenant(
            "demo",
            &["attendance", "tasks", "complaints", "wallet", "reports"],
        )
        .with_tenant("globex", &["reports"])
        .start()
        .await
}

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> mosaic_tests::Req {
    app.as_user(method, &format!("/api/{path}"), "demo", token)
}

async fn report(app: &TestApp, tenant: &str, path: &str) -> Value {
    let manager = app.token(tenant, Role::Manager).await;
    app.as_user(
        Method::GET,
        &format!("/api/reports{path}"),
        tenant,
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body
}

/// A day of work this month: a session, a task done, a ticket resolved, a payout.
async fn some_work(app: &TestApp) -> (String, String) {
    let ada = app.hire("demo", "Ada", "ada@demo.test", 500_000).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 400_000).await;
    let manager = app.token("demo", Role::Manager).await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    for (path, status) in [("attendance/check-in", 201), ("attendance/check-out", 200)] {
        call(app, Method::POST, path, &manager)
            .json(&json!({"employee_id": ada}))
            .send()
            .await
            .expect(status);
    }
    let task = call(app, Method::POST, "tasks/", &manager)
        .json(&json!({"title": "Ship it", "assignee_id": bob, "priority": "HIGH"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for status in ["IN_PROGRESS", "REVIEW", "DONE"] {
        call(app, Method::PATCH, &format!("tasks/{task}"), &manager)
            .json(&json!({"status": status}))
            .send()
            .await
            .expect(200);
    }
    let ticket = call(app, Method::POST, "complaints/", &manager)
        .json(&json!({"title": "Noise", "description": "Loud", "category": "office", "priority": "LOW"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for status in ["IN_PROGRESS", "RESOLVED"] {
        call(
            app,
            Method::PATCH,
            &format!("complaints/{ticket}"),
            &manager,
        )
        .json(&json!({"status": status}))
        .send()
        .await
        .expect(200);
    }
    call(app, Method::POST, "wallet/payouts", &admin)
        .send()
        .await
        .expect(201);
    (ada, bob)
}

async fn a_report_gathers_every_section(backend: Backend) {
    let app = enterprise(backend).await;
    let (ada, _) = some_work(&app).await;
    let overview = report(&app, "demo", "/").await;
    assert_eq!(overview["modules_calls"], 5, "{overview}");
    let sections = &overview["sections"];
    for key in ["headcount", "attendance", "tasks", "complaints", "payouts"] {
        assert_eq!(sections[key]["available"], true, "{key}: {}", sections[key]);
    }
    assert_eq!(sections["headcount"]["total"], 2);
    assert_eq!(sections["headcount"]["by_status"]["active"], 2);
    assert_eq!(
        sections["headcount"]["by_department"][0]["department"],
        "(none)"
    );
    assert_eq!(sections["attendance"]["totals"]["days_present"], 1);
    assert_eq!(sections["attendance"]["totals"]["employees"], 2);
    assert_eq!(sections["tasks"]["completed"], 1);
    assert_eq!(sections["tasks"]["completed_by_priority"]["HIGH"], 1);
    assert!(sections["tasks"]["cycle_time_hours"]["median"].is_number());
    assert_eq!(sections["complaints"]["created"], 1);
    assert_eq!(sections["complaints"]["resolved"], 1);
    assert_eq!(sections["complaints"]["sla_met_rate"], 1.0);
    assert_eq!(sections["complaints"]["by_priority"]["LOW"]["resolved"], 1);
    assert_eq!(sections["payouts"]["payouts"], 1);
    assert_eq!(sections["payouts"]["employees_paid"], 2);
    assert_eq!(sections["payouts"]["totals"], json!({"USD": 900_000}));

    // One section, one call; an earlier period has none of this month's work.
    let tasks = report(&app, "demo", "/tasks").await;
    assert_eq!(tasks["modules_calls"], 1);
    assert_eq!(tasks["sections"].as_object().unwrap().len(), 1);
    let old = report(&app, "demo", "/tasks?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(old["from"], "2020-01-01");
    assert_eq!(old["sections"]["tasks"]["completed"], 0);

    let manager = app.token("demo", Role::Manager).await;
    let csv = call(&app, Method::GET, "reports/attendance.csv", &manager)
        .send()
        .await
        .expect(200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "employee_id,name,department,days_present,hours,late_days,late_minutes,early_leave_days,attendance_rate"
    );
    assert_eq!(lines.len(), 3, "{}", csv.text);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{ada},Ada,,1,"))),
        "{}",
        csv.text
    );
    let same = call(&app, Method::GET, "reports/attendance?format=csv", &manager)
        .send()
        .await
        .expect(200);
    assert_eq!(same.text.lines().next(), lines.first().copied());
    let tasks_csv = call(&app, Method::GET, "reports/tasks.csv", &manager)
        .send()
        .await
        .expect(200);
    assert!(
        tasks_csv.text.starts_with("metric,value\n"),
        "{}",
        tasks_csv.text
    );
    assert!(
        tasks_csv.text.contains("\ncompleted,1\n"),
        "{}",
        tasks_csv.text
    );
    let all_csv = call(&app, Method::GET, "reports/?format=csv", &manager)
        .send()
        .await
        .expect(200);
    assert!(all_csv.text.starts_with("section,metric,value\n"));
    assert!(
        all_csv.text.contains("\ntasks,completed,1\n"),
        "{}",
        all_csv.text
    );
    assert!(
        !all_csv.text.contains("attendance,employees.0"),
        "tables stay in their section"
    );

    call(&app, Method::GET, "reports/salaries", &manager)
        .send()
        .await
        .expect_error(404, "not_found");
    call(&app, Method::GET, "reports/?format=xml", &manager)
        .send()
        .await
        .expect_error(422, "validation_failed");
    for query in [
        "from=2026-01-01",
        "from=2026-02-01&to=2026-01-01",
        "from=2025-01-01&to=2025-12-31",
        "month=13",
    ] {
        call(&app, Method::GET, &format!("reports/?{query}"), &manager)
            .send()
            .await
            .expect_error(422, "validation_failed");
    }
    let member = app.token("demo", Role::Member).await;
    call(&app, Method::GET, "reports/", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    call(&app, Method::GET, "reports/tasks", &member)
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn a_disabled_source_marks_its_section(backend: Backend) {
    let app = enterprise(backend).await;
    some_work(&app).await;
    let toggle = |module: &str, enabled: bool| {
        app.req(
            Method::POST,
            &format!("/api/admin/tenants/demo/modules/{module}"),
        )
        .bearer(&app.admin_token())
        .json(&json!({"enabled": enabled}))
    };
    for (section, module) in SOURCES {
        toggle(module, false).send().await.expect(200);
        let overview = report(&app, "demo", "/").await;
        let marked = &overview["sections"][section];
        assert_eq!(marked["available"], false, "{section}: {marked}");
        assert!(
            marked["reason"].as_str().unwrap().contains(module),
            "{marked}"
        );
        for (other, _) in SOURCES.iter().filter(|(s, _)| s != section) {
            assert_eq!(
                overview["sections"][other]["available"], true,
                "{other} with {module} off"
            );
        }
        assert_eq!(overview["sections"]["headcount"]["available"], true);
        assert_eq!(overview["modules_calls"], 4);
        let one = report(&app, "demo", &format!("/{section}")).await;
        assert_eq!(one["sections"][section]["available"], false);
        let manager = app.token("demo", Role::Manager).await;
        let csv = call(
            &app,
            Method::GET,
            &format!("reports/{section}.csv"),
            &manager,
        )
        .send()
        .await
        .expect(200);
        assert!(csv.text.contains("available,false"), "{}", csv.text);
        toggle(module, true).send().await.expect(200);
    }
    let back = report(&app, "demo", "/").await;
    assert_eq!(back["modules_calls"], 5);
}

async fn reports_are_gated_and_isolated(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("enterprise")
        .with_tenant("demo", &["reports"])
        .with_tenant("acme", &["attendance"])
        .with_tenant("globex", &["reports"])
        .start()
        .await;
    let acme = app.token("acme", Role::Manager).await;
    app.as_user(Method::GET, "/api/reports/", "acme", &acme)
        .send()
        .await
        .expect_gated("reports");
    app.hire("demo", "Ada", "ada@demo.test", 1).await;
    app.hire("demo", "Bob", "bob@demo.test", 1).await;
    app.hire("globex", "Gus", "gus@globex.test", 1).await;
    let demo = report(&app, "demo", "/headcount").await;
    assert_eq!(demo["sections"]["headcount"]["total"], 2);
    let globex = report(&app, "globex", "/").await;
    assert_eq!(globex["sections"]["headcount"]["total"], 1);
    // Globex has none of the other sources.
    for (section, _) in SOURCES {
        assert_eq!(globex["sections"][section]["available"], false, "{section}");
    }
    assert_eq!(globex["modules_calls"], 1);
}
