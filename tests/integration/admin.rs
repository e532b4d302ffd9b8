//! Creating tenants through the admin API.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(create_tenant_and_use_it, create_tenant_refusals);

async fn create_tenant_and_use_it(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let created = app
        .req(Method::POST, "/api/admin/tenants")
        .bearer(&app.admin_token())
        .json(&json!({"name": "Globex", "subdomain": "globex", "modules": ["attendance"]}))
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(created["subdomain"], "globex");
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["modules"],
        json!({"employees": true, "attendance": true, "wallet": false, "tasks": false, "complaints": false, "shifts": false, "reports": false, "notifications": true})
    );
    let token = app.token("globex", Role::Member).await;
    app.as_user(Method::GET, "/api/attendance/", "globex", &token)
        .send()
        .await
        .expect(200);
    app.as_user(Method::GET, "/api/employees/", "globex", &token)
        .send()
        .await
        .expect(200);
}

async fn create_tenant_refusals(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("taken", &[])
        .start()
        .await;
    let admin = app.admin_token();
    let post = |body: String| {
        let req = app
            .req(Method::POST, "/api/admin/tenants")
            .bearer(&admin)
            .raw(body);
        async move { req.send().await }
    };
    for (subdomain, why) in [
        ("www", "is reserved"),
        ("Big-Co", "must be"),
        ("a_b", "must be"),
        ("-x", "must be"),
    ] {
        let resp = post(json!({"name": "X", "subdomain": subdomain}).to_string())
            .await
            .expect_error(422, "validation_failed");
        let message = resp.body["fields"]["subdomain"].as_str().expect("message");
        assert!(message.starts_with(why), "{subdomain}: {message}");
    }
    post(json!({"name": "X", "subdomain": "taken"}).to_string())
        .await
        .expect_error(409, "conflict");
    let unknown =
        post(json!({"name": "X", "subdomain": "fresh", "modules": ["payroll"]}).to_string())
            .await
            .expect_error(422, "validation_failed");
    assert!(
        unknown.body["fields"]["modules"]
            .as_str()
            .expect("message")
            .contains("payroll")
    );
    // A module outside the plan the tenant starts on; a plan that is none.
    let outside =
        post(json!({"name": "X", "subdomain": "fresh", "modules": ["wallet"]}).to_string())
            .await
            .expect_error(422, "validation_failed");
    assert_eq!(
        outside.body["fields"]["modules"],
        "wallet is not in the starter plan the tenant starts on"
    );
    let no_plan = post(json!({"name": "X", "subdomain": "fresh", "plan": "gold"}).to_string())
        .await
        .expect_error(422, "validation_failed");
    assert!(
        no_plan.body["fields"]["plan"].is_string(),
        "{}",
        no_plan.text
    );
    let on_business = post(
        json!({"name": "X", "subdomain": "bizco", "plan": "business", "modules": ["wallet"]})
            .to_string(),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(on_business["plan"], "business");
    assert_eq!(on_business["modules"]["wallet"], true);
    post(json!({"name": "", "subdomain": "fresh"}).to_string())
        .await
        .expect_error(422, "validation_failed");
    post(json!({"name": "X"}).to_string())
        .await
        .expect_error(422, "validation_failed");
    post(json!({"name": "X", "subdomain": 5}).to_string())
        .await
        .expect_error(422, "validation_failed");
    post(json!({"name": "X", "subdomain": "fresh", "colour": "red"}).to_string())
        .await
        .expect_error(422, "validation_failed");
    post("{not json".into())
        .await
        .expect_error(400, "bad_request");
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&admin)
        .header("content-type", "text/plain")
        .send()
        .await
        .expect_error(415, "unsupported_media_type");
    // None of the refusals created anything.
    assert!(
        app.state
            .directory
            .by_subdomain("fresh")
            .await
            .expect("db")
            .is_none()
    );
}
