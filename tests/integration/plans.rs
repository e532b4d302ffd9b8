//! Billing plans (issue #13, item 1): seeded on a new database, listed publicly,
//! created, edited and retired by platform admins only, every change audited.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    plans_are_seeded_and_public,
    platform_admins_manage_plans,
    a_plan_decides_the_modules,
);

async fn public_keys(app: &TestApp) -> Vec<String> {
    let body = app
        .req(Method::GET, "/api/billing/plans")
        .send()
        .await
        .expect(200)
        .body;
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["key"].as_str().expect("key").to_owned())
        .collect()
}

async fn plans_are_seeded_and_public(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    assert_eq!(
        public_keys(&app).await,
        ["starter", "business", "enterprise"]
    );
    let body = app
        .req(Method::GET, "/api/billing/plans/")
        .send()
        .await
        .expect(200)
        .body;
    let starter = &body["items"][0];
    assert_eq!(starter["name"], "Starter");
    assert_eq!(starter["price_minor"], 2900);
    assert_eq!(starter["currency"], "USD");
    assert_eq!(starter["period"], "month");
    assert_eq!(starter["modules"], json!(["attendance"]));
    assert_eq!(starter["limits"]["max_employees"], 25);
    let enterprise = &body["items"][2];
    assert_eq!(
        enterprise["limits"]["max_employees"],
        Value::Null,
        "no limit"
    );
}

async fn platform_admins_manage_plans(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    let team = json!({
        "key": "team", "name": "Team", "price_minor": 4900, "currency": "EUR",
        "period": "year", "modules": ["attendance", "tasks"],
        "limits": {"max_employees": 50, "max_users": 20}, "sort_order": 15
    });

    // Platform admins only.
    app.req(Method::POST, "/api/admin/plans")
        .json(&team)
        .send()
        .await
        .expect(401);
    let tenant_admin = app.token("acme", Role::TenantAdmin).await;
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&tenant_admin)
        .json(&team)
        .send()
        .await
        .expect(403);

    let created = app
        .req(Method::POST, "/api/admin/plans")
        .bearer(&admin)
        .json(&team)
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(created["limits"]["max_storage_bytes"], Value::Null);
    assert_eq!(
        public_keys(&app).await,
        ["starter", "team", "business", "enterprise"]
    );
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&admin)
        .json(&team)
        .send()
        .await
        .expect_error(409, "conflict");

    let refused = app
        .req(Method::POST, "/api/admin/plans")
        .bearer(&admin)
        .json(&json!({
            "key": "Bad Key", "name": "", "price_minor": -1, "currency": "usd",
            "period": "month", "modules": ["employees"], "limits": {"max_users": -3}
        }))
        .send()
        .await
        .expect_error(422, "validation_failed")
        .body;
    for field in [
        "key",
        "name",
        "price_minor",
        "currency",
        "modules",
        "limits.max_users",
    ] {
        assert!(refused["fields"][field].is_string(), "{field}: {refused}");
    }
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&admin)
        .json(&json!({"key": "weekly", "name": "Weekly", "price_minor": 1, "currency": "USD", "period": "week"}))
        .send()
        .await
        .expect(422);

    // Edit: what is sent replaces, the rest is kept.
    let edited = app
        .req(Method::PATCH, "/api/admin/plans/business")
        .bearer(&admin)
        .json(&json!({"price_minor": 10900}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(edited["price_minor"], 10900);
    assert_eq!(edited["name"], "Business");
    app.req(Method::PATCH, "/api/admin/plans/nope")
        .bearer(&admin)
        .json(&json!({"price_minor": 1}))
        .send()
        .await
        .expect_error(404, "not_found");
    app.req(Method::PATCH, "/api/admin/plans/business")
        .bearer(&admin)
        .json(&json!({"currency": "dollars"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    // Found by Schemathesis: PostgreSQL keeps the order in 32 bits (was a 500).
    for sort_order in [-1_i64, i64::from(i32::MAX) + 1, i64::MAX - 1] {
        let refused = app
            .req(Method::PATCH, "/api/admin/plans/business")
            .bearer(&admin)
            .json(&json!({ "sort_order": sort_order }))
            .send()
            .await
            .expect_error(422, "validation_failed")
            .body;
        assert!(refused["fields"]["sort_order"].is_string(), "{refused}");
    }

    // Retire: gone from the public catalog, kept for the admins.
    let retired = app
        .req(Method::POST, "/api/admin/plans/enterprise/retire")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert!(retired["retired_at"].is_i64(), "{retired}");
    assert_eq!(public_keys(&app).await, ["starter", "team", "business"]);
    let all = app
        .req(Method::GET, "/api/admin/plans")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(4));
    app.req(Method::POST, "/api/admin/plans/enterprise/retire")
        .bearer(&admin)
        .send()
        .await
        .expect_error(409, "conflict");

    // Every change is in the audit log.
    let audit = app
        .req(Method::GET, "/api/admin/audit?action=plan.&limit=50")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| row["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["plan.retire", "plan.update", "plan.create"]);
}

/// Moves acme to `plan`; answers what changed.
async fn change_plan(app: &TestApp, plan: &str) -> Value {
    app.req(Method::POST, "/api/admin/tenants/acme/plan")
        .bearer(&app.admin_token())
        .json(&json!({ "plan": plan }))
        .send()
        .await
        .expect(200)
        .body
}

/// A module some plan lists is sold: a tenant has it only on a plan that lists it.
/// A downgrade switches it off (data kept), the upgrade back brings it back.
async fn a_plan_decides_the_modules(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_testbed()
        .with_tenant("acme", &["attendance"])
        .start()
        .await;
    let admin = app.admin_token();
    // Before any plan lists the testbed, it is not gated.
    let enable = |module: &'static str, enabled: bool| {
        let req = app
            .req(
                Method::POST,
                &format!("/api/admin/tenants/acme/modules/{module}"),
            )
            .bearer(&admin)
            .json(&json!({ "enabled": enabled }));
        async move { req.send().await }
    };
    enable("testbed", true).await.expect(200);
    enable("testbed", false).await.expect(200);
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&admin)
        .json(
            &json!({"key": "lab", "name": "Lab", "price_minor": 19900, "currency": "USD",
                      "period": "month", "modules": ["testbed"]}),
        )
        .send()
        .await
        .expect(201);
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&admin)
        .json(
            &json!({"key": "lab-yearly", "name": "Lab yearly", "price_minor": 199000,
                      "currency": "USD", "period": "year", "modules": ["testbed", "attendance"]}),
        )
        .send()
        .await
        .expect(201);

    // Now it is sold, and not in acme's Starter plan: the cheapest plan with it is named.
    let refused = enable("testbed", true)
        .await
        .expect_error(403, "plan_upgrade_required")
        .body;
    assert_eq!(refused["upgrade"], true);
    assert_eq!(refused["module"], "testbed");
    assert_eq!(
        refused["plan"], "lab-yearly",
        "199000 a year beats 19900 a month"
    );
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&admin)
        .json(&json!({"name": "Globex", "subdomain": "globex", "modules": ["testbed"]}))
        .send()
        .await
        .expect_error(422, "validation_failed");

    // Upgrade: at once.
    let token = app.token("acme", Role::TenantAdmin).await;
    app.as_user(Method::GET, "/api/testbed/fixed", "acme", &token)
        .send()
        .await
        .expect(403);
    let upgraded = change_plan(&app, "lab-yearly").await;
    assert_eq!(upgraded["previous"], "starter");
    enable("testbed", true).await.expect(200);
    app.as_user(Method::GET, "/api/testbed/fixed", "acme", &token)
        .send()
        .await
        .expect(200);

    // Downgrade: the modules the plan lacks are switched off, data kept...
    let downgraded = change_plan(&app, "lab").await;
    assert_eq!(downgraded["paused"], json!(["attendance"]));
    app.as_user(Method::GET, "/api/attendance/", "acme", &token)
        .send()
        .await
        .expect(403);
    app.as_user(Method::GET, "/api/testbed/fixed", "acme", &token)
        .send()
        .await
        .expect(200);
    // ...and come back with a plan that has them.
    let back = change_plan(&app, "lab-yearly").await;
    assert_eq!(back["resumed"], json!(["attendance"]));
    app.as_user(Method::GET, "/api/attendance/", "acme", &token)
        .send()
        .await
        .expect(200);
    let subscription = app
        .as_user(Method::GET, "/api/billing/subscription", "acme", &token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(subscription["plan"]["key"], "lab-yearly");

    // A module switched off by hand after a downgrade stays off after the upgrade.
    let down = change_plan(&app, "lab").await;
    assert_eq!(down["paused"], json!(["attendance"]));
    enable("attendance", false).await.expect(200);
    let up = change_plan(&app, "lab-yearly").await;
    assert_eq!(up["resumed"], json!([]));
    app.as_user(Method::GET, "/api/attendance/", "acme", &token)
        .send()
        .await
        .expect(403);

    // A retired or unknown plan takes no one new.
    app.req(Method::POST, "/api/admin/plans/business/retire")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    app.req(Method::POST, "/api/admin/tenants/acme/plan")
        .bearer(&admin)
        .json(&json!({"plan": "business"}))
        .send()
        .await
        .expect_error(409, "conflict");
    app.req(Method::POST, "/api/admin/tenants/acme/plan")
        .bearer(&admin)
        .json(&json!({"plan": "platinum"}))
        .send()
        .await
        .expect_error(404, "not_found");
}
