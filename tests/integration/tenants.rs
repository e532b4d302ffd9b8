//! The platform admin's tenant API: CRUD, states, bulk operations, statistics,
//! health, domains and the module catalog.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    tenant_crud_and_listing,
    state_transitions,
    hard_delete,
    bulk_create_partial_failure,
    bulk_update_modules,
    statistics_and_health,
    custom_domains,
    module_catalog,
    admin_only,
);

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> mosaic_tests::Resp {
    let mut req = app.req(method, path).bearer(&app.admin_token());
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await
}

async fn tenant_crud_and_listing(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let created = admin(
        &app,
        Method::POST,
        "/api/admin/tenants",
        Some(json!({
            "name": "Globex Corporation", "subdomain": "globex", "modules": ["attendance"],
            "contact_email": "IT@Globex.example", "primary_color": "#1F6FEB", "secondary_color": "#f59e0b",
        })),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(created["status"], "active");
    assert_eq!(created["contact_email"], "it@globex.example");
    assert_eq!(created["primary_color"], "#1f6feb");
    assert_eq!(created["created_by"], "user:platform-admin");
    assert_eq!(
        created["modules"],
        json!({"employees": true, "attendance": true, "wallet": false, "tasks": false, "complaints": false, "shifts": false, "reports": false, "notifications": true})
    );
    assert!(created["created_at"].as_i64().expect("created_at") > 0);

    for (sub, name) in [
        ("initech", "Initech"),
        ("umbrella", "Umbrella Corp"),
        ("hooli", "Hooli"),
    ] {
        admin(
            &app,
            Method::POST,
            "/api/admin/tenants",
            Some(json!({"name": name, "subdomain": sub})),
        )
        .await
        .expect(201);
    }
    let page = admin(&app, Method::GET, "/api/admin/tenants?per_page=2", None)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 4);
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let page2 = admin(
        &app,
        Method::GET,
        "/api/admin/tenants?per_page=2&page=2",
        None,
    )
    .await
    .expect(200)
    .body;
    let subs = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["subdomain"].as_str().expect("sub").to_owned())
            .collect()
    };
    let mut all = subs(&page);
    all.extend(subs(&page2));
    all.sort();
    assert_eq!(all, ["globex", "hooli", "initech", "umbrella"]);
    let found = admin(&app, Method::GET, "/api/admin/tenants?search=CORP", None)
        .await
        .expect(200)
        .body;
    let mut names = subs(&found);
    names.sort();
    assert_eq!(names, ["globex", "umbrella"]);
    // LIKE wildcards are searched for literally.
    let none = admin(&app, Method::GET, "/api/admin/tenants?search=%25", None)
        .await
        .expect(200)
        .body;
    assert_eq!(none["total"], 0);
    admin(&app, Method::GET, "/api/admin/tenants?status=frozen", None)
        .await
        .expect_error(422, "validation_failed");
    admin(&app, Method::GET, "/api/admin/tenants?per_page=1000", None)
        .await
        .expect_error(422, "validation_failed");
    admin(&app, Method::GET, "/api/admin/tenants?page=x", None)
        .await
        .expect_error(400, "bad_request");

    let got = admin(&app, Method::GET, "/api/admin/tenants/globex", None)
        .await
        .expect(200)
        .body;
    assert_eq!(got["id"], created["id"]);
    let updated = admin(
        &app,
        Method::PATCH,
        "/api/admin/tenants/globex",
        Some(json!({"name": "Globex Inc", "secondary_color": null})),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(updated["name"], "Globex Inc");
    assert_eq!(updated["secondary_color"], Value::Null);
    assert_eq!(
        updated["primary_color"], "#1f6feb",
        "absent fields are kept"
    );

    let bad = admin(
        &app,
        Method::PATCH,
        "/api/admin/tenants/globex",
        Some(json!({"primary_color": "blue", "contact_email": "nope", "name": ""})),
    )
    .await
    .expect_error(422, "validation_failed");
    for field in ["primary_color", "contact_email", "name"] {
        assert!(
            bad.body["fields"][field].is_string(),
            "{field}: {}",
            bad.text
        );
    }
    admin(
        &app,
        Method::PATCH,
        "/api/admin/tenants/globex",
        Some(json!({"subdomain": "x"})),
    )
    .await
    .expect_error(422, "validation_failed");
    admin(
        &app,
        Method::PATCH,
        "/api/admin/tenants/nobody",
        Some(json!({"name": "X"})),
    )
    .await
    .expect_error(404, "not_found");
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants",
        Some(json!({"name": "G", "subdomain": "globex"})),
    )
    .await
    .expect_error(409, "conflict");
    let after = admin(&app, Method::GET, "/api/admin/tenants/globex", None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        after["name"], "Globex Inc",
        "a refused update changes nothing"
    );
}

async fn state_transitions(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let token = app.token("acme", Role::Member).await;
    let call = || {
        app.as_user(Method::GET, "/api/employees/", "acme", &token)
            .send()
    };
    call().await.expect(200);

    // Suspending takes a reason.
    admin(&app, Method::POST, "/api/admin/tenants/acme/suspend", None)
        .await
        .expect_error(422, "validation_failed");
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/suspend",
        Some(json!({"reason": "  "})),
    )
    .await
    .expect_error(422, "validation_failed");
    let mistyped = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/suspend",
        Some(json!({"reason": 5})),
    )
    .await
    .expect_error(422, "validation_failed");
    assert_eq!(
        mistyped.body["fields"],
        json!({"reason": "must be a string"}),
        "one error shape everywhere"
    );
    app.req(Method::POST, "/api/admin/tenants/acme/suspend")
        .bearer(&app.admin_token())
        .raw("{not json")
        .send()
        .await
        .expect_error(400, "bad_request");
    let suspended = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/suspend",
        Some(json!({"reason": "unpaid invoice"})),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["status_reason"], "unpaid invoice");
    // A transition answers the tenant as GET does, modules and domains included.
    let shown = admin(&app, Method::GET, "/api/admin/tenants/acme", None)
        .await
        .expect(200)
        .body;
    assert_eq!(suspended, shown);
    assert!(suspended["modules"].is_object() && suspended["domains"].is_array());
    call().await.expect_error(403, "tenant_inactive");

    // Only the allowed moves.
    for (action, from) in [
        ("suspend", "suspended"),
        ("approve", "suspended"),
        ("restore", "suspended"),
    ] {
        let refused = admin(
            &app,
            Method::POST,
            &format!("/api/admin/tenants/acme/{action}"),
            Some(json!({"reason": "r"})),
        )
        .await
        .expect_error(409, "conflict");
        assert!(
            refused.body["error"]
                .as_str()
                .expect("error")
                .contains(from),
            "{}",
            refused.text
        );
    }
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/reactivate",
        None,
    )
    .await
    .expect(200);
    call().await.expect(200);
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/reactivate",
        None,
    )
    .await
    .expect_error(409, "conflict");
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/archive",
        Some(json!({"reason": "closed"})),
    )
    .await
    .expect(200);
    call().await.expect_error(403, "tenant_inactive");
    let restored = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/restore",
        Some(json!({"reason": "reopened"})),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(restored["status"], "active");
    call().await.expect(200);
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/nobody/suspend",
        Some(json!({"reason": "r"})),
    )
    .await
    .expect_error(404, "not_found");

    // Every move is in the audit log with its reason.
    let audit = admin(
        &app,
        Method::GET,
        "/api/admin/audit?tenant=acme&action=tenant.",
        None,
    )
    .await
    .expect(200)
    .body;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.restore",
            "tenant.archive",
            "tenant.reactivate",
            "tenant.suspend",
            "tenant.create"
        ]
    );
    assert_eq!(
        audit["items"][3]["after"],
        json!({"status": "suspended", "reason": "unpaid invoice"})
    );
    assert_eq!(audit["items"][3]["before"], json!({"status": "active"}));
}

async fn hard_delete(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("doomed", &["attendance"])
        .with_tenant("keeper", &["attendance"])
        .start()
        .await;
    let doomed_id = app.tenant_id("doomed").await;
    for sub in ["doomed", "keeper"] {
        let token = app.token(sub, Role::TenantAdmin).await;
        app.as_user(Method::POST, "/api/employees/", sub, &token)
            .json(&json!({"name": "E", "email": "e@example.com", "salary": 1, "hired_on": "2024-01-01"}))
            .send()
            .await
            .expect(201);
    }
    assert!(app.data_dir().join("tenants/doomed/config.json").exists());
    assert!(
        app.state
            .runtime
            .slots()
            .iter()
            .any(|s| s.tenant_id == doomed_id)
    );

    for confirm in ["", "DOOMED", "keeper"] {
        app.req(Method::DELETE, "/api/admin/tenants/doomed")
            .bearer(&app.admin_token())
            .json(&json!({"confirm": confirm}))
            .send()
            .await
            .expect_error(422, "validation_failed");
    }
    app.req(Method::DELETE, "/api/admin/tenants/doomed")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect_error(415, "unsupported_media_type");
    app.req(Method::DELETE, "/api/admin/tenants/doomed")
        .bearer(&app.admin_token())
        .json(&json!({"confirm": "doomed"}))
        .send()
        .await
        .expect(204);

    assert!(
        !app.data_dir().join("tenants/doomed").exists(),
        "its files are gone"
    );
    assert!(
        !app.data_dir()
            .join(format!("module-data/{doomed_id}.db"))
            .exists(),
        "its module data file is gone (SQLite)"
    );
    assert!(
        !app.state
            .runtime
            .slots()
            .iter()
            .any(|s| s.tenant_id == doomed_id),
        "its slots are gone"
    );
    let token = app.token("keeper", Role::Member).await;
    app.as_user(Method::GET, "/api/employees/", "doomed", &token)
        .send()
        .await
        .expect_error(404, "not_found");
    let kept = app
        .as_user(Method::GET, "/api/employees/", "keeper", &token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        kept.body["items"].as_array().expect("items").len(),
        1,
        "other tenants keep their data"
    );
    let module_data = app
        .state
        .db
        .module_data(&doomed_id)
        .await
        .expect("module data database");
    let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE tenant_id = $1")
        .bind(&doomed_id)
        .fetch_one(&module_data.pool)
        .await
        .expect("count");
    assert_eq!(records, 0, "its data is gone");
    admin(&app, Method::GET, "/api/admin/tenants/doomed", None)
        .await
        .expect_error(404, "not_found");
    // The subdomain is free again, and the audit log still tells what happened.
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants",
        Some(json!({"name": "Reborn", "subdomain": "doomed"})),
    )
    .await
    .expect(201);
    let audit = admin(
        &app,
        Method::GET,
        &format!("/api/admin/audit?tenant={doomed_id}&action=tenant.delete"),
        None,
    )
    .await
    .expect(200)
    .body;
    assert_eq!(audit["items"].as_array().expect("items").len(), 1);
}

async fn bulk_create_partial_failure(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("taken", &[])
        .start()
        .await;
    let result = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/bulk-create",
        Some(json!({"tenants": [
            {"name": "One", "subdomain": "one", "modules": ["attendance"]},
            {"name": "Bad", "subdomain": "www"},
            {"name": "Dup", "subdomain": "taken"},
            {"name": "Unknown module", "subdomain": "three", "modules": ["teleport"]},
            {"name": "Two", "subdomain": "two", "primary_color": "#000000"},
        ]})),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(result["created"], 2);
    assert_eq!(result["failed"], 3);
    let results = result["results"].as_array().expect("results");
    let oks: Vec<bool> = results
        .iter()
        .map(|r| r["ok"].as_bool().expect("ok"))
        .collect();
    assert_eq!(oks, [true, false, false, false, true]);
    assert_eq!(results[0]["result"]["subdomain"], "one");
    assert!(results[1]["error"]["fields"]["subdomain"].is_string());
    assert!(
        results[2]["error"]["message"]
            .as_str()
            .expect("message")
            .contains("taken")
    );
    assert!(results[3]["error"]["fields"]["modules"].is_string());
    let list = admin(&app, Method::GET, "/api/admin/tenants", None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        list["total"], 3,
        "failed items leave nothing behind: {list}"
    );
    assert!(!app.data_dir().join("tenants/three").exists());
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/bulk-create",
        Some(json!({"tenants": []})),
    )
    .await
    .expect_error(422, "validation_failed");
}

async fn bulk_update_modules(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("a", &[])
        .with_tenant("b", &["attendance"])
        .start()
        .await;
    let result = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/bulk-update-modules",
        Some(json!({"tenants": ["a", "b", "ghost"], "module": "attendance", "enabled": true})),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(result["updated"], 2);
    assert_eq!(result["results"][0]["result"]["was_enabled"], false);
    assert_eq!(result["results"][1]["result"]["was_enabled"], true);
    assert_eq!(result["results"][2]["ok"], false);
    for sub in ["a", "b"] {
        let token = app.token(sub, Role::Member).await;
        app.as_user(Method::GET, "/api/attendance/", sub, &token)
            .send()
            .await
            .expect(200);
    }
    let core = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/bulk-update-modules",
        Some(json!({"tenants": ["a"], "module": "employees", "enabled": false})),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(core["failed"], 1);
    assert!(
        core["results"][0]["error"]["message"]
            .as_str()
            .expect("message")
            .contains("core")
    );
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/bulk-update-modules",
        Some(json!({"tenants": ["a"], "module": "teleport", "enabled": true})),
    )
    .await
    .expect_error(404, "not_found");
}

async fn statistics_and_health(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_testbed()
        .with_tenant("acme", &["attendance", "testbed"])
        .with_tenant("globex", &[])
        .start()
        .await;
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/globex/suspend",
        Some(json!({"reason": "r"})),
    )
    .await
    .expect(200);
    let stats = admin(&app, Method::GET, "/api/admin/tenants/statistics", None)
        .await
        .expect(200)
        .body;
    assert_eq!(stats["total"], 2);
    assert_eq!(
        stats["by_status"],
        json!({"pending": 0, "active": 1, "suspended": 1, "archived": 0})
    );
    assert_eq!(stats["modules_enabled"]["attendance"], 1);
    assert_eq!(stats["created_last_30_days"], 2);

    let health = admin(&app, Method::GET, "/api/admin/tenants/acme/health", None)
        .await
        .expect(200)
        .body;
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["config_current"], true);
    assert_eq!(health["slots"], json!([]));
    assert_eq!(health["last_error"], Value::Null);

    let token = app.token("acme", Role::Member).await;
    app.as_user(Method::GET, "/api/testbed/trap", "acme", &token)
        .send()
        .await
        .expect(500);
    // A config edited (or lost) behind the host's back shows up.
    std::fs::write(app.data_dir().join("tenants/acme/config.json"), "{}").expect("write");
    let health = admin(&app, Method::GET, "/api/admin/tenants/acme/health", None)
        .await
        .expect(200)
        .body;
    assert_eq!(health["config_present"], true);
    assert_eq!(health["config_current"], false);
    assert_eq!(health["healthy"], false);
    assert_eq!(health["last_error"]["module"], "testbed");
    assert!(
        health["last_error"]["error"]
            .as_str()
            .expect("error")
            .contains("trap")
    );
    assert_eq!(health["slots"][0]["module"], "testbed");
    // Any change rewrites it.
    admin(
        &app,
        Method::PATCH,
        "/api/admin/tenants/acme",
        Some(json!({"name": "Acme 2"})),
    )
    .await
    .expect(200);
    let health = admin(&app, Method::GET, "/api/admin/tenants/acme/health", None)
        .await
        .expect(200)
        .body;
    assert_eq!(health["config_current"], true);
    admin(&app, Method::GET, "/api/admin/tenants/nobody/health", None)
        .await
        .expect_error(404, "not_found");
}

async fn custom_domains(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_base_domain("mosaic.test")
        .with_tenant("acme", &[])
        .with_tenant("globex", &[])
        .start()
        .await;
    let token = app.token("acme", Role::Member).await;
    let by_host = |host: &'static str| {
        app.req(Method::GET, "/api/employees/")
            .header("host", host)
            .bearer(&token)
            .send()
    };
    // Not a domain the host knows: the request names no tenant.
    by_host("hr.acme.example")
        .await
        .expect_error(400, "bad_request");
    let added = admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/domains",
        Some(json!({"domain": "HR.Acme.example."})),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(added["domains"], json!(["hr.acme.example"]));
    by_host("hr.acme.example").await.expect(200);
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/globex/domains",
        Some(json!({"domain": "hr.acme.example"})),
    )
    .await
    .expect_error(409, "conflict");
    for bad in ["localhost", "a..b", "acme example", "-x.example"] {
        admin(
            &app,
            Method::POST,
            "/api/admin/tenants/acme/domains",
            Some(json!({"domain": bad})),
        )
        .await
        .expect_error(422, "validation_failed");
    }
    // A name under the base domain is another tenant's (or the platform's): acme
    // cannot take it, and globex keeps it (acme's token is no good there).
    admin(
        &app,
        Method::POST,
        "/api/admin/tenants/acme/domains",
        Some(json!({"domain": "globex.mosaic.test"})),
    )
    .await
    .expect_error(422, "validation_failed");
    assert_ne!(by_host("globex.mosaic.test").await.status, 200);
    admin(
        &app,
        Method::DELETE,
        "/api/admin/tenants/acme/domains/hr.acme.example",
        None,
    )
    .await
    .expect(200);
    by_host("hr.acme.example")
        .await
        .expect_error(400, "bad_request");
    admin(
        &app,
        Method::DELETE,
        "/api/admin/tenants/acme/domains/hr.acme.example",
        None,
    )
    .await
    .expect_error(404, "not_found");
}

async fn module_catalog(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let catalog = app
        .req(Method::GET, "/api/modules/")
        .send()
        .await
        .expect(200)
        .body;
    let items = catalog["items"].as_array().expect("items");
    let keys: Vec<&str> = items
        .iter()
        .map(|m| m["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        [
            "employees",
            "attendance",
            "wallet",
            "tasks",
            "complaints",
            "shifts",
            "reports",
            "notifications"
        ],
        "sorted by sort order"
    );
    assert_eq!(items[0]["core"], true);
    assert_eq!(items[1]["core"], false);
    assert_eq!(items[7]["core"], true);
    for field in ["name", "description", "icon", "version"] {
        assert!(
            items[1][field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
    assert!(items[1]["sort_order"].is_u64());
    app.req(Method::GET, "/api/modules")
        .send()
        .await
        .expect(200);
}

async fn admin_only(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let tenant_admin = app.token("acme", Role::TenantAdmin).await;
    for (method, path) in [
        (Method::GET, "/api/admin/tenants"),
        (Method::GET, "/api/admin/tenants/statistics"),
        (Method::GET, "/api/admin/tenants/acme"),
        (Method::POST, "/api/admin/tenants/acme/suspend"),
        (Method::DELETE, "/api/admin/tenants/acme"),
        (Method::GET, "/api/admin/audit"),
        (Method::GET, "/api/admin/demo-requests"),
        (Method::POST, "/api/admin/tenants/acme/deploy-site"),
    ] {
        app.req(method.clone(), path)
            .bearer(&tenant_admin)
            .send()
            .await
            .expect_error(403, "forbidden");
        app.req(method, path)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
}
