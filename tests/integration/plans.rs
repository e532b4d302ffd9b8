//! Billing plans (issue #13, item 1): seeded on a new database, listed publicly,
//! created, edited and retired by platform admins only, every change audited.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(plans_are_seeded_and_public, platform_admins_manage_plans);

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
