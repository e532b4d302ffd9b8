//! Teams in the employees module (issue #11): a lead and members drawn from the
//! tenant's active employees, managed by managers, forgotten with the employee.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(teams_have_a_lead_and_active_members, teams_are_the_tenants);

async fn teams_have_a_lead_and_active_members(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let member = app.token("demo", Role::Member).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 100).await;
    let cyd = app.hire("demo", "Cyd", "cyd@demo.test", 100).await;
    let idle = app.hire("demo", "Idle", "idle@demo.test", 100).await;
    let call = |method: Method, path: &str, token: &str| {
        app.as_user(method, &format!("/api/employees{path}"), "demo", token)
    };
    call(Method::PATCH, &format!("/{idle}"), &manager)
        .json(&json!({"status": "inactive"}))
        .send()
        .await
        .expect(200);

    // Members read teams but do not make them.
    call(Method::POST, "/teams", &member)
        .json(&json!({"name": "Core"}))
        .send()
        .await
        .expect_error(403, "forbidden");

    // The lead is a member, each member once.
    let team = call(Method::POST, "/teams", &manager)
        .json(&json!({"name": "Core", "lead_id": ada, "member_ids": [bob, bob]}))
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(team["lead_id"], ada.as_str());
    assert_eq!(team["member_ids"], json!([ada, bob]));
    let id = team["id"].as_str().unwrap().to_owned();

    // Only active employees of the tenant join.
    for body in [
        json!({"name": "Ops", "lead_id": idle}),
        json!({"name": "Ops", "member_ids": ["no-such-employee"]}),
        json!({"name": "Ops", "member_ids": "everyone"}),
        json!({"name": ""}),
        json!({"name": "Ops", "colour": "red"}),
    ] {
        call(Method::POST, "/teams", &manager)
            .json(&body)
            .send()
            .await
            .expect_error(422, "validation_failed");
    }
    let refused = call(Method::POST, &format!("/teams/{id}/members"), &manager)
        .json(&json!({"employee_id": idle}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert!(
        refused.body["fields"]["member_ids"]
            .as_str()
            .unwrap()
            .contains("not active"),
        "{}",
        refused.text
    );
    call(Method::POST, "/teams", &manager)
        .json(&json!({"name": "Core"}))
        .send()
        .await
        .expect_error(409, "conflict");

    // Rename, add and remove members.
    let renamed = call(Method::PATCH, &format!("/teams/{id}"), &manager)
        .json(&json!({"name": "Platform"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(renamed["name"], "Platform");
    assert_eq!(renamed["member_ids"], json!([ada, bob]));
    call(Method::PATCH, &format!("/teams/{id}"), &member)
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .expect_error(403, "forbidden");
    let grown = call(Method::POST, &format!("/teams/{id}/members"), &manager)
        .json(&json!({"employee_id": cyd}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(grown["member_ids"], json!([ada, bob, cyd]));
    call(Method::POST, &format!("/teams/{id}/members"), &manager)
        .json(&json!({"employee_id": cyd}))
        .send()
        .await
        .expect_error(409, "conflict");
    call(
        Method::DELETE,
        &format!("/teams/{id}/members/{bob}"),
        &manager,
    )
    .send()
    .await
    .expect(200);
    call(
        Method::DELETE,
        &format!("/teams/{id}/members/{bob}"),
        &manager,
    )
    .send()
    .await
    .expect_error(404, "not_found");

    let members = call(Method::GET, &format!("/teams/{id}/members"), &member)
        .send()
        .await
        .expect(200)
        .body;
    let names: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Cyd"]);

    // A member who stops being active stays until removed, and does not lock the team.
    call(Method::PATCH, &format!("/{cyd}"), &manager)
        .json(&json!({"status": "inactive"}))
        .send()
        .await
        .expect(200);
    call(Method::PATCH, &format!("/teams/{id}"), &manager)
        .json(&json!({"name": "Platform team"}))
        .send()
        .await
        .expect(200);

    // Deleting an employee takes them out of their teams, as lead too.
    let admin = app.token("demo", Role::TenantAdmin).await;
    call(Method::DELETE, &format!("/{ada}"), &admin)
        .send()
        .await
        .expect(204);
    let after = call(Method::GET, &format!("/teams/{id}"), &member)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(after["lead_id"], Value::Null);
    assert_eq!(after["member_ids"], json!([cyd]));

    let list = call(Method::GET, "/teams", &member)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    call(Method::DELETE, &format!("/teams/{id}"), &member)
        .send()
        .await
        .expect_error(403, "forbidden");
    call(Method::DELETE, &format!("/teams/{id}"), &manager)
        .send()
        .await
        .expect(204);
    call(Method::GET, &format!("/teams/{id}"), &member)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn teams_are_the_tenants(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .with_tenant("acme", &[])
        .start()
        .await;
    let demo = app.token("demo", Role::Manager).await;
    let acme = app.token("acme", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let team = app
        .as_user(Method::POST, "/api/employees/teams", "demo", &demo)
        .json(&json!({"name": "Core", "lead_id": ada}))
        .send()
        .await
        .expect(201)
        .body;
    let id = team["id"].as_str().unwrap();
    app.as_user(
        Method::GET,
        &format!("/api/employees/teams/{id}"),
        "acme",
        &acme,
    )
    .send()
    .await
    .expect_error(404, "not_found");
    // Another tenant's employee is no employee here.
    app.as_user(Method::POST, "/api/employees/teams", "acme", &acme)
        .json(&json!({"name": "Core", "lead_id": ada}))
        .send()
        .await
        .expect_error(422, "validation_failed");
}
