//! One tenant can never reach another's data, by any route or id.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(acme_cannot_touch_demo);

async fn acme_cannot_touch_demo(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_base_domain("mosaic.test")
        .with_tenant("demo", &["attendance"])
        .with_tenant("acme", &["attendance"])
        .start()
        .await;
    let demo = app.token("demo", Role::TenantAdmin).await;
    let acme = app.token("acme", Role::TenantAdmin).await;

    let secret = app
        .as_user(Method::POST, "/api/employees/", "demo", &demo)
        .json(&json!({"name": "Demo Secret", "email": "secret@demo.example", "salary": 999, "hired_on": "2024-01-01"}))
        .send()
        .await
        .expect(201)
        .body;
    let id = secret["id"].as_str().expect("id").to_owned();
    app.as_user(Method::POST, "/api/attendance/check-in", "demo", &demo)
        .json(&json!({"employee_id": id}))
        .send()
        .await
        .expect(201);

    // acme's token on acme's host: demo's ids do not exist there.
    let on_acme = |method: Method, path: String| {
        let req = app
            .req(method, &path)
            .header("host", "acme.mosaic.test")
            .bearer(&acme);
        async move { req }
    };
    let list = on_acme(Method::GET, "/api/employees/".into())
        .await
        .send()
        .await
        .expect(200);
    assert_eq!(list.body["items"], json!([]));
    on_acme(Method::GET, format!("/api/employees/{id}"))
        .await
        .send()
        .await
        .expect_error(404, "not_found");
    on_acme(Method::PATCH, format!("/api/employees/{id}"))
        .await
        .json(&json!({"name": "Hijacked"}))
        .send()
        .await
        .expect_error(404, "not_found");
    on_acme(Method::DELETE, format!("/api/employees/{id}"))
        .await
        .send()
        .await
        .expect_error(404, "not_found");
    let sessions = on_acme(Method::GET, "/api/attendance/".into())
        .await
        .send()
        .await
        .expect(200);
    assert_eq!(sessions.body["items"], json!([]));
    let check_in = on_acme(Method::POST, "/api/attendance/check-in".into())
        .await
        .json(&json!({"employee_id": id}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(check_in.body["fields"]["employee_id"], "no such employee");
    // The same email is free in another tenant: uniqueness is per tenant.
    on_acme(Method::POST, "/api/employees/".into())
        .await
        .json(&json!({"name": "Acme Person", "email": "secret@demo.example", "salary": 1, "hired_on": "2024-01-01"}))
        .send()
        .await
        .expect(201);

    // acme's token aimed at demo, by header or by host name: refused outright.
    for req in [
        app.req(Method::GET, "/api/employees/")
            .header("x-tenant-id", "demo"),
        app.req(Method::GET, "/api/employees/")
            .header("host", "demo.mosaic.test"),
        app.req(Method::GET, &format!("/api/employees/{id}"))
            .header("host", "demo.mosaic.test"),
        app.req(Method::DELETE, &format!("/api/employees/{id}"))
            .header("host", "demo.mosaic.test"),
    ] {
        req.bearer(&acme)
            .send()
            .await
            .expect_error(403, "forbidden");
    }

    // demo's data is intact.
    let still = app
        .as_user(Method::GET, &format!("/api/employees/{id}"), "demo", &demo)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(still["name"], "Demo Secret");
    assert_eq!(still["version"], 1);
    let demo_list = app
        .as_user(Method::GET, "/api/employees/", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(demo_list.body["items"].as_array().expect("items").len(), 1);
}
