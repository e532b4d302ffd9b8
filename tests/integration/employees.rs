//! The employees module through the HTTP API.

use mosaic::auth::Role;
use mosaic_tests::{Backend, Resp, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    crud_round_trip,
    validation_and_uniqueness,
    filters_and_cursor_pagination,
    roles_gate_writes,
    malformed_and_oversize_input
);

fn ada() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "Ada@Example.com",
        "department": "Engineering",
        "position": "Engineer",
        "salary": 650000,
        "hired_on": "2024-02-29"
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> Resp {
    app.as_user(Method::POST, "/api/employees/", "demo", token)
        .json(body)
        .send()
        .await
}

async fn crud_round_trip(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;

    let created = create(&app, &admin, &ada()).await.expect(201).body;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["email"], "ada@example.com", "emails are normalised");
    assert_eq!(created["status"], "active");
    assert_eq!(created["version"], 1);
    // The event was written to the outbox with the employee, in the same unit of work.
    use sqlx::Row;
    let events = sqlx::query("SELECT kind, subject, source FROM event_outbox WHERE tenant_id = $1")
        .bind(app.tenant_id("demo").await)
        .fetch_all(&app.module_data("demo").await.pool)
        .await
        .expect("outbox");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].get::<String, _>(0), "employee.created");
    assert_eq!(events[0].get::<String, _>(1), id);
    assert_eq!(events[0].get::<String, _>(2), "employees");

    let fetched = app
        .as_user(Method::GET, &format!("/api/employees/{id}"), "demo", &admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(fetched["name"], "Ada Lovelace");
    assert_eq!(fetched["salary"], 650000);

    let patched = app
        .as_user(
            Method::PATCH,
            &format!("/api/employees/{id}/"),
            "demo",
            &admin,
        )
        .json(&json!({"position": "Principal", "status": "inactive"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(patched["position"], "Principal");
    assert_eq!(patched["status"], "inactive");
    assert_eq!(patched["name"], "Ada Lovelace", "fields not sent are kept");
    assert_eq!(patched["version"], 2);

    // A stale version is a conflict, and nothing changes.
    app.as_user(
        Method::PATCH,
        &format!("/api/employees/{id}"),
        "demo",
        &admin,
    )
    .json(&json!({"position": "Stale", "version": 1}))
    .send()
    .await
    .expect_error(409, "conflict");

    app.as_user(
        Method::DELETE,
        &format!("/api/employees/{id}"),
        "demo",
        &admin,
    )
    .send()
    .await
    .expect(204);
    app.as_user(Method::GET, &format!("/api/employees/{id}"), "demo", &admin)
        .send()
        .await
        .expect_error(404, "not_found");
    app.as_user(
        Method::DELETE,
        &format!("/api/employees/{id}"),
        "demo",
        &admin,
    )
    .send()
    .await
    .expect_error(404, "not_found");

    // The email is free again once its employee is gone.
    create(&app, &admin, &ada()).await.expect(201);
}

async fn validation_and_uniqueness(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;

    let missing = create(&app, &admin, &json!({"name": "Nobody"})).await;
    let missing = missing.expect_error(422, "validation_failed");
    for field in ["email", "salary", "hired_on"] {
        assert_eq!(
            missing.body["fields"][field], "is required",
            "{}",
            missing.text
        );
    }
    assert!(missing.body["request_id"].is_string(), "{}", missing.text);

    let wrong = create(
        &app,
        &admin,
        &json!({
            "name": "",
            "email": "not-an-email",
            "salary": -5,
            "hired_on": "2023-02-29",
            "status": "retired",
            "department": 7,
            "shoe_size": 42
        }),
    )
    .await
    .expect_error(422, "validation_failed");
    let fields = wrong.body["fields"].as_object().expect("fields");
    for field in [
        "name",
        "email",
        "salary",
        "hired_on",
        "status",
        "department",
        "shoe_size",
    ] {
        assert!(
            fields.contains_key(field),
            "{field} missing in {}",
            wrong.text
        );
    }

    let first = create(&app, &admin, &ada()).await.expect(201).body;
    let mut same_email = ada();
    same_email["email"] = json!("ADA@example.com");
    same_email["name"] = json!("Another Ada");
    create(&app, &admin, &same_email)
        .await
        .expect_error(409, "conflict");

    // Taking the email by update is refused too, and leaves both records as they were.
    let mut grace = ada();
    grace["email"] = json!("grace@example.com");
    let grace = create(&app, &admin, &grace).await.expect(201).body;
    let grace_id = grace["id"].as_str().expect("id");
    app.as_user(
        Method::PATCH,
        &format!("/api/employees/{grace_id}"),
        "demo",
        &admin,
    )
    .json(&json!({"email": "ada@example.com"}))
    .send()
    .await
    .expect_error(409, "conflict");
    let unchanged = app
        .as_user(
            Method::GET,
            &format!("/api/employees/{grace_id}"),
            "demo",
            &admin,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(unchanged["email"], "grace@example.com");
    assert_eq!(unchanged["version"], 1);
    assert_eq!(first["email"], "ada@example.com");
}

/// A `CREATE INDEX CONCURRENTLY` that fails leaves an invalid index, which
/// `IF NOT EXISTS` would keep for good: the next build (another replica, the next
/// start) drops it and builds it again.
#[tokio::test]
async fn a_declared_index_a_failed_build_left_invalid_is_built_again() {
    let app = TestApp::builder(Backend::Postgres)
        .with_tenant("demo", &[])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    create(&app, &admin, &ada()).await.expect(201);
    app.as_user(
        Method::GET,
        "/api/employees/?department=Engineering",
        "demo",
        &admin,
    )
    .send()
    .await
    .expect(200);
    assert_eq!(app.declared_indexes("demo", 2).await.len(), 2);
    // The build holds an advisory lock until it is over. Marked invalid while it
    // still runs, the index would be mended by this very build, not the next one.
    let data = app.module_data("demo").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'")
        .fetch_one(&data.pool)
        .await
        .expect("the locks")
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the build is over within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let by_department = mosaic::store::records::DeclaredIndex::new(
        "employees",
        "employees",
        &["department".to_owned()],
    )
    .expect("an index");
    // As a failed build leaves it.
    let made_invalid =
        sqlx::query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)")
            .bind(by_department.name())
            .execute(&data.pool)
            .await
            .expect("made invalid");
    assert_eq!(made_invalid.rows_affected(), 1);
    assert_eq!(app.declared_indexes("demo", 1).await.len(), 1);

    let next_start = mosaic::store::Db::connect(&app.database_url())
        .await
        .expect("a database");
    next_start.build_declared_indexes(std::slice::from_ref(&by_department), "employees");
    let built = app.declared_indexes("demo", 2).await;
    assert_eq!(built.len(), 2, "{built:?}");
    assert!(
        built.iter().any(|sql| sql.contains(by_department.name())),
        "{built:?}"
    );
}

async fn filters_and_cursor_pagination(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    for i in 0..7 {
        let department = if i % 2 == 0 { "Sales" } else { "Support" };
        let status = if i == 6 { "inactive" } else { "active" };
        create(
            &app,
            &admin,
            &json!({
                "name": format!("Person {i}"), "email": format!("p{i}@example.com"),
                "department": department, "salary": 1000 * i, "hired_on": "2025-01-01", "status": status
            }),
        )
        .await
        .expect(201);
    }
    let list = |query: String| {
        let req = app.as_user(
            Method::GET,
            &format!("/api/employees/{query}"),
            "demo",
            &admin,
        );
        async move { req.send().await }
    };

    let sales = list("?department=Sales".into()).await.expect(200).body;
    assert_eq!(sales["items"].as_array().expect("items").len(), 4);
    let active_sales = list("?department=Sales&status=active".into())
        .await
        .expect(200)
        .body;
    assert_eq!(active_sales["items"].as_array().expect("items").len(), 3);
    // Filtering the collection built the indexes its manifest declares, for the
    // next filters: one per unique or plain index, on that collection only.
    let built = app.declared_indexes("demo", 2).await;
    assert_eq!(built.len(), 2, "{built:?}");
    // Keyed by the tenant and then the field: on PostgreSQL no column stands between
    // them (a search could not skip it), on SQLite module and collection do, for a
    // planner without statistics.
    let key_start = match backend {
        Backend::Sqlite => "(tenant_id, module, collection, json_extract(data, '$.",
        Backend::Postgres => "(tenant_id, ((data #> '{",
    };
    for field in ["email", "department"] {
        assert!(
            built
                .iter()
                .any(|sql| sql.contains(&format!("{key_start}{field}"))
                    && sql.contains("'employees'")),
            "{field}: {built:?}"
        );
    }

    // Pages of 3 walk all 7 once, in insertion order, then stop.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".into(),
        };
        let page = list(query).await.expect(200).body;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|e| e["name"].as_str().expect("name").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("Person {i}")).collect();
    assert_eq!(seen, expected);

    list("?status=retired".into())
        .await
        .expect_error(422, "validation_failed");
    list("?limit=lots".into())
        .await
        .expect_error(422, "validation_failed");
    list("?cursor=garbage".into())
        .await
        .expect_error(422, "validation_failed");
}

async fn roles_gate_writes(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .start()
        .await;
    let member = app.token("demo", Role::Member).await;
    let manager = app.token("demo", Role::Manager).await;

    create(&app, &member, &ada())
        .await
        .expect_error(403, "forbidden");
    let id = create(&app, &manager, &ada()).await.expect(201).body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Members read records without salaries; managers and the employee see them.
    let read = app
        .as_user(
            Method::GET,
            &format!("/api/employees/{id}"),
            "demo",
            &member,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(read["name"], "Ada Lovelace");
    assert!(read.get("salary").is_none(), "{read}");
    let listed = app
        .as_user(Method::GET, "/api/employees/", "demo", &member)
        .send()
        .await
        .expect(200)
        .body;
    assert!(listed["items"][0].get("salary").is_none(), "{listed}");
    let by_manager = app
        .as_user(
            Method::GET,
            &format!("/api/employees/{id}"),
            "demo",
            &manager,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(by_manager["salary"], 650000);
    let herself = app
        .token_with_email("demo", Role::Member, "ada@example.com")
        .await;
    let own = app
        .as_user(
            Method::GET,
            &format!("/api/employees/{id}"),
            "demo",
            &herself,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(own["salary"], 650000);
    app.as_user(
        Method::DELETE,
        &format!("/api/employees/{id}"),
        "demo",
        &manager,
    )
    .send()
    .await
    .expect_error(403, "forbidden");
    app.as_user(
        Method::PUT,
        &format!("/api/employees/{id}"),
        "demo",
        &manager,
    )
    .json(&ada())
    .send()
    .await
    .expect_error(405, "method_not_allowed");
    app.as_user(Method::GET, "/api/employees/a/b/c", "demo", &manager)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn malformed_and_oversize_input(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &[])
        .with_limits(|l| l.max_request_bytes = 4096)
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let post = |body: String| {
        let req = app.as_user(Method::POST, "/api/employees/", "demo", &admin);
        async move { req.raw(body).send().await }
    };

    post("{\"name\": ".into())
        .await
        .expect_error(400, "bad_request");
    post("[1, 2]".into())
        .await
        .expect_error(422, "validation_failed");
    post("\"just a string\"".into())
        .await
        .expect_error(422, "validation_failed");
    let typed =
        post(r#"{"name": 5, "email": ["a"], "salary": "lots", "hired_on": 20240101}"#.into())
            .await
            .expect_error(422, "validation_failed");
    assert_eq!(
        typed.body["fields"]["salary"],
        "must be a non-negative integer (minor currency units)"
    );

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(10_000));
    post(huge).await.expect_error(413, "payload_too_large");

    // Nothing was stored by any of it.
    let list = app
        .as_user(Method::GET, "/api/employees/", "demo", &admin)
        .send()
        .await
        .expect(200);
    assert_eq!(list.body["items"], json!([]));
}
