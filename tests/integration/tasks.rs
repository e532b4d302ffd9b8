//! The tasks module (issue #11): the status flow, the kanban board, comments,
//! attachments, the history of every change, notifications and the gate.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    tasks_move_along_their_flow,
    tasks_are_checked,
    the_board_groups_counts_and_filters,
    comments_belong_to_their_authors,
    attachments_are_kept_and_checked,
    the_assignee_is_notified,
    tasks_are_gated_and_isolated,
    every_queried_collection_gets_its_declared_indexes,
);

fn tasks_app(backend: Backend) -> mosaic_tests::TestAppBuilder {
    TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["tasks"])
}

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> mosaic_tests::Req {
    app.as_user(method, &format!("/api/tasks{path}"), "demo", token)
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    call(app, Method::POST, "/", token)
        .json(&body)
        .send()
        .await
        .expect(201)
        .body
}

async fn set_status(app: &TestApp, token: &str, id: &str, status: &str) -> mosaic_tests::Resp {
    call(app, Method::PATCH, &format!("/{id}"), token)
        .json(&json!({"status": status}))
        .send()
        .await
}

async fn tasks_move_along_their_flow(backend: Backend) {
    let app = tasks_app(backend).start().await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let ada_token = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let other = app
        .token_with_email("demo", Role::Member, "eve@demo.test")
        .await;
    let task = create(
        &app,
        &manager,
        json!({"title": "Ship it", "assignee_id": ada, "priority": "HIGH",
               "due_date": "2030-01-31", "labels": ["release", "release", " ops "]}),
    )
    .await;
    assert_eq!(task["status"], "TODO");
    assert_eq!(task["labels"], json!(["release", "ops"]));
    assert_eq!(task["created_by"], "user-demo");
    let id = task["id"].as_str().unwrap();

    // Skipping a step is refused, naming the allowed moves.
    let refused = set_status(&app, &manager, id, "DONE")
        .await
        .expect_error(409, "conflict");
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("allowed: IN_PROGRESS"),
        "{}",
        refused.text
    );
    // Someone who neither made nor holds the task does not move it; the assignee does.
    set_status(&app, &other, id, "IN_PROGRESS")
        .await
        .expect_error(403, "forbidden");
    set_status(&app, &ada_token, id, "IN_PROGRESS")
        .await
        .expect(200);
    set_status(&app, &ada_token, id, "REVIEW").await.expect(200);
    // Review sends work back, or finishes it.
    set_status(&app, &manager, id, "IN_PROGRESS")
        .await
        .expect(200);
    set_status(&app, &manager, id, "TODO")
        .await
        .expect_error(409, "conflict");
    set_status(&app, &manager, id, "REVIEW").await.expect(200);
    let done = set_status(&app, &manager, id, "DONE")
        .await
        .expect(200)
        .body;
    assert_eq!(done["status"], "DONE");
    let finished = set_status(&app, &manager, id, "REVIEW")
        .await
        .expect_error(409, "conflict");
    assert!(finished.body["error"].as_str().unwrap().contains("done"));
    set_status(&app, &manager, id, "LATER")
        .await
        .expect_error(422, "validation_failed");

    // Every change is in the history, with who, when, before and after.
    let history = call(&app, Method::GET, &format!("/{id}/activity"), &manager)
        .send()
        .await
        .expect(200)
        .body;
    let entries = history["items"].as_array().unwrap();
    assert_eq!(entries.len(), 6, "{history}");
    assert_eq!(entries[0]["action"], "created");
    assert_eq!(entries[1]["actor"], "user-ada@demo.test");
    assert_eq!(
        entries[1]["changes"]["status"],
        json!({"before": "TODO", "after": "IN_PROGRESS"})
    );
    assert!(entries[1]["at"].as_u64().is_some());

    // A stale version is a conflict; a member does not delete; a manager does.
    call(&app, Method::PATCH, &format!("/{id}"), &manager)
        .json(&json!({"title": "Shipped", "version": 1}))
        .send()
        .await
        .expect_error(409, "conflict");
    call(&app, Method::DELETE, &format!("/{id}"), &ada_token)
        .send()
        .await
        .expect_error(403, "forbidden");
    call(&app, Method::DELETE, &format!("/{id}"), &manager)
        .send()
        .await
        .expect(204);
    call(&app, Method::GET, &format!("/{id}"), &manager)
        .send()
        .await
        .expect_error(404, "not_found");
    // The history outlives the task.
    let kept = call(&app, Method::GET, &format!("/{id}/activity"), &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(kept["items"].as_array().unwrap().len(), 7);
    call(&app, Method::GET, "/no-such-task/activity", &manager)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn tasks_are_checked(backend: Backend) {
    let app = tasks_app(backend).start().await;
    let member = app.token("demo", Role::Member).await;
    let manager = app.token("demo", Role::Manager).await;
    let idle = app.hire("demo", "Idle", "idle@demo.test", 100).await;
    app.as_user(
        Method::PATCH,
        &format!("/api/employees/{idle}"),
        "demo",
        &manager,
    )
    .json(&json!({"status": "inactive"}))
    .send()
    .await
    .expect(200);
    for (body, field) in [
        (json!({}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "T", "priority": "SOON"}), "priority"),
        (json!({"title": "T", "due_date": "31/01/2030"}), "due_date"),
        (json!({"title": "T", "labels": "a,b"}), "labels"),
        (json!({"title": "T", "labels": [""]}), "labels"),
        (
            json!({"title": "T", "labels": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
            "labels",
        ),
        (json!({"title": "T", "status": "DONE"}), "status"),
        (
            json!({"title": "T", "assignee_id": "no-such-employee"}),
            "assignee_id",
        ),
        (
            json!({"title": "T", "assignee_id": "../../admin"}),
            "assignee_id",
        ),
        (json!({"title": "T", "assignee_id": idle}), "assignee_id"),
        // Routes of employees, not employees.
        (json!({"title": "T", "assignee_id": "me"}), "assignee_id"),
        (json!({"title": "T", "assignee_id": "teams"}), "assignee_id"),
        (json!({"title": "T", "team_id": "no-such-team"}), "team_id"),
        (json!({"title": "T", "points": 3}), "points"),
    ] {
        let refused = call(&app, Method::POST, "/", &member)
            .json(&body)
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"][field].is_string(),
            "{body}: {}",
            refused.text
        );
    }
    call(&app, Method::POST, "/", &member)
        .raw("{\"title\": ")
        .send()
        .await
        .expect_error(400, "bad_request");
    call(&app, Method::GET, "/?status=LATER", &member)
        .send()
        .await
        .expect_error(422, "validation_failed");
    call(&app, Method::GET, "/?overdue=maybe", &member)
        .send()
        .await
        .expect_error(422, "validation_failed");
    // A member's own task is theirs to change.
    let own = create(&app, &member, json!({"title": "Mine"})).await;
    let id = own["id"].as_str().unwrap();
    call(&app, Method::PATCH, &format!("/{id}"), &member)
        .json(&json!({"priority": "URGENT", "labels": ["x"]}))
        .send()
        .await
        .expect(200);
    call(&app, Method::PATCH, &format!("/{id}"), &member)
        .json(&json!({"assignee_id": idle}))
        .send()
        .await
        .expect_error(422, "validation_failed");
}

async fn the_board_groups_counts_and_filters(backend: Backend) {
    let app = tasks_app(backend).start().await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 100).await;
    let team = app
        .as_user(Method::POST, "/api/employees/teams", "demo", &manager)
        .json(&json!({"name": "Core", "member_ids": [ada]}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut ids = Vec::new();
    for (i, (assignee, priority)) in [
        (&ada, "LOW"),
        (&ada, "URGENT"),
        (&bob, "MEDIUM"),
        (&bob, "HIGH"),
        (&ada, "MEDIUM"),
    ]
    .into_iter()
    .enumerate()
    {
        let labels = if i.is_multiple_of(2) {
            json!(["bug"])
        } else {
            json!(["feature"])
        };
        let team_id = if *assignee == ada {
            json!(team)
        } else {
            Value::Null
        };
        let due = if i == 0 { "2020-01-01" } else { "2099-01-01" };
        let task = create(
            &app,
            &manager,
            json!({"title": format!("Task {i}"), "assignee_id": assignee, "team_id": team_id,
                   "priority": priority, "labels": labels, "due_date": due}),
        )
        .await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    set_status(&app, &manager, &ids[3], "IN_PROGRESS")
        .await
        .expect(200);
    set_status(&app, &manager, &ids[4], "IN_PROGRESS")
        .await
        .expect(200);
    set_status(&app, &manager, &ids[4], "REVIEW")
        .await
        .expect(200);

    let board = |query: &str| {
        let req = call(&app, Method::GET, &format!("/kanban{query}"), &manager);
        async move { req.send().await.expect(200).body }
    };
    let counts = |board: &Value| -> Vec<(String, u64)> {
        board["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_owned(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let all = board("").await;
    assert_eq!(all["total"], 5);
    assert_eq!(
        counts(&all),
        [
            ("TODO".into(), 3),
            ("IN_PROGRESS".into(), 1),
            ("REVIEW".into(), 1),
            ("DONE".into(), 0)
        ]
    );
    // The most urgent first.
    let todo: Vec<&str> = all["columns"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["priority"].as_str().unwrap())
        .collect();
    assert_eq!(todo, ["URGENT", "MEDIUM", "LOW"]);

    let adas = board(&format!("?assignee_id={ada}")).await;
    assert_eq!(adas["total"], 3);
    let teams = board(&format!("?team_id={team}")).await;
    assert_eq!(teams["total"], 3);
    let bugs = board("?label=bug").await;
    assert_eq!(
        counts(&bugs),
        [
            ("TODO".into(), 2),
            ("IN_PROGRESS".into(), 0),
            ("REVIEW".into(), 1),
            ("DONE".into(), 0)
        ]
    );
    let both = board(&format!("?label=feature&assignee_id={bob}")).await;
    assert_eq!(both["total"], 1);
    let capped = board("?limit=1").await;
    assert_eq!(capped["columns"][0]["count"], 3);
    assert_eq!(capped["columns"][0]["items"].as_array().unwrap().len(), 1);

    // Overdue: past the due date and not done.
    let overdue = call(&app, Method::GET, "/overdue", &manager)
        .send()
        .await
        .expect(200)
        .body;
    let late: Vec<&str> = overdue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(late, [ids[0].as_str()]);
    let listed = call(&app, Method::GET, "/?overdue=true", &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let by_status = call(&app, Method::GET, "/?status=TODO&priority=LOW", &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(by_status["items"].as_array().unwrap().len(), 1);
}

async fn comments_belong_to_their_authors(backend: Backend) {
    let app = tasks_app(backend).start().await;
    let ada = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let bob = app
        .token_with_email("demo", Role::Member, "bob@demo.test")
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let task = create(&app, &ada, json!({"title": "Discuss"})).await;
    let id = task["id"].as_str().unwrap();

    let comment = call(&app, Method::POST, &format!("/{id}/comments"), &bob)
        .json(&json!({"body": "  First!  "}))
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(comment["body"], "First!");
    assert_eq!(comment["author_id"], "user-bob@demo.test");
    let cid = comment["id"].as_str().unwrap();
    call(&app, Method::POST, &format!("/{id}/comments"), &bob)
        .json(&json!({"body": ""}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    call(&app, Method::POST, "/no-such-task/comments", &bob)
        .json(&json!({"body": "Hello"}))
        .send()
        .await
        .expect_error(404, "not_found");

    // Only the author edits, even a manager does not.
    for token in [&ada, &manager] {
        call(&app, Method::PATCH, &format!("/{id}/comments/{cid}"), token)
            .json(&json!({"body": "Edited"}))
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    let edited = call(&app, Method::PATCH, &format!("/{id}/comments/{cid}"), &bob)
        .json(&json!({"body": "First, edited"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(edited["body"], "First, edited");
    assert!(edited["edited_at"].as_u64().is_some());
    let list = call(&app, Method::GET, &format!("/{id}/comments"), &ada)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // The author or a manager deletes; another member does not.
    call(&app, Method::DELETE, &format!("/{id}/comments/{cid}"), &ada)
        .send()
        .await
        .expect_error(403, "forbidden");
    call(
        &app,
        Method::DELETE,
        &format!("/{id}/comments/{cid}"),
        &manager,
    )
    .send()
    .await
    .expect(204);
    call(
        &app,
        Method::DELETE,
        &format!("/{id}/comments/{cid}"),
        &manager,
    )
    .send()
    .await
    .expect_error(404, "not_found");

    let history = call(&app, Method::GET, &format!("/{id}/activity"), &ada)
        .send()
        .await
        .expect(200)
        .body;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "commented", "comment_edited", "comment_deleted"]
    );
    assert_eq!(
        history["items"][2]["changes"]["comment_body"],
        json!({"before": "First!", "after": "First, edited"})
    );
}

/// The smallest PNG: a 1x1 image.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn attachments_are_kept_and_checked(backend: Backend) {
    // A small request limit, so that the refused body is sent whole before the 413.
    let app = tasks_app(backend)
        .with_limits(|limits| limits.max_request_bytes = 8 << 10)
        .start()
        .await;
    let ada = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let bob = app
        .token_with_email("demo", Role::Member, "bob@demo.test")
        .await;
    let task = create(&app, &ada, json!({"title": "Design"})).await;
    let id = task["id"].as_str().unwrap();
    let upload = |name: &str, content_type: &str, body: Vec<u8>| {
        app.as_user(
            Method::POST,
            &format!("/api/tasks/{id}/attachments?name={name}"),
            "demo",
            &ada,
        )
        .header("content-type", content_type)
        .raw_bytes(body)
    };

    let png = upload("mock.png", "image/png", PNG.to_vec())
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["size"], PNG.len());
    // An image sent as text is judged by its content.
    let judged = upload("notes.txt", "text/plain", PNG.to_vec())
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(judged["content_type"], "image/png");
    upload("spec.txt", "text/plain", b"plain words".to_vec())
        .send()
        .await
        .expect(201);

    // Types a task does not take, a lying image, bad names and empty bodies.
    for (name, content_type, body) in [
        (
            "tool.exe",
            "application/x-msdownload",
            b"MZ\x90\x00".to_vec(),
        ),
        ("fake.png", "image/png", b"not an image".to_vec()),
        ("..%2Fescape.txt", "text/plain", b"x".to_vec()),
        ("a%2Fb.txt", "text/plain", b"x".to_vec()),
        (".hidden", "text/plain", b"x".to_vec()),
        ("", "text/plain", b"x".to_vec()),
        ("empty.txt", "text/plain", Vec::new()),
    ] {
        let refused = upload(name, content_type, body)
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"].is_object(),
            "{name}: {}",
            refused.text
        );
    }
    // Bodies over the host's request limit stop at the door.
    upload("big.txt", "text/plain", vec![b'a'; 16 << 10])
        .send()
        .await
        .expect_error(413, "payload_too_large");

    let list = call(&app, Method::GET, &format!("/{id}/attachments"), &bob)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);

    let aid = png["id"].as_str().unwrap();
    let download = call(&app, Method::GET, &format!("/{id}/attachments/{aid}"), &bob)
        .send()
        .await
        .expect(200);
    assert_eq!(download.bytes, PNG);
    assert_eq!(download.headers["content-type"], "image/png");
    assert_eq!(
        download.headers["content-disposition"],
        "attachment; filename=\"mock.png\""
    );
    call(
        &app,
        Method::GET,
        &format!("/no-such-task/attachments/{aid}"),
        &bob,
    )
    .send()
    .await
    .expect_error(404, "not_found");

    // The uploader removes it; another member does not.
    call(
        &app,
        Method::DELETE,
        &format!("/{id}/attachments/{aid}"),
        &bob,
    )
    .send()
    .await
    .expect_error(403, "forbidden");
    call(
        &app,
        Method::DELETE,
        &format!("/{id}/attachments/{aid}"),
        &ada,
    )
    .send()
    .await
    .expect(204);
    call(&app, Method::GET, &format!("/{id}/attachments/{aid}"), &bob)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn the_assignee_is_notified(backend: Backend) {
    let app = tasks_app(backend).start().await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let invited = app
        .as_user(Method::POST, "/api/users/", "demo", &admin)
        .json(&json!({"email": "ada@demo.test", "full_name": "Ada", "role": "MEMBER"}))
        .send()
        .await
        .expect(201)
        .body;
    let user_id = invited["id"].as_str().unwrap().to_owned();
    let tenant_id = app.tenant_id("demo").await;
    let mut claims = mosaic::auth::Claims::new(user_id, Some(tenant_id), Role::Member, 600);
    claims.email = Some("ada@demo.test".into());
    let ada_token = app.sign(&claims);
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;

    let manager = app.token("demo", Role::Manager).await;
    let task = create(
        &app,
        &manager,
        json!({"title": "Review the plan", "assignee_id": ada}),
    )
    .await;
    let id = task["id"].as_str().unwrap();
    set_status(&app, &manager, id, "IN_PROGRESS")
        .await
        .expect(200);
    call(&app, Method::POST, &format!("/{id}/comments"), &manager)
        .json(&json!({"body": "How is it going?"}))
        .send()
        .await
        .expect(201);

    let started = Instant::now();
    let subjects = loop {
        let inbox = app
            .as_user(Method::GET, "/api/notifications/", "demo", &ada_token)
            .send()
            .await
            .expect(200)
            .body;
        let subjects: Vec<String> = inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["subject"].as_str().unwrap().to_owned())
            .filter(|s| s.contains("Review the plan"))
            .collect();
        if subjects.len() >= 3 {
            break subjects;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "notifications: {subjects:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(subjects.contains(&"Task assigned: Review the plan".to_owned()));
    assert!(subjects.contains(&"Task IN_PROGRESS: Review the plan".to_owned()));
    assert!(subjects.contains(&"New comment: Review the plan".to_owned()));
}

async fn tasks_are_gated_and_isolated(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["tasks"])
        .with_tenant("acme", &[])
        .with_tenant("globex", &["tasks"])
        .start()
        .await;
    let acme = app.token("acme", Role::TenantAdmin).await;
    for path in ["/api/tasks/", "/api/tasks/kanban"] {
        app.as_user(Method::GET, path, "acme", &acme)
            .send()
            .await
            .expect_gated("tasks");
    }
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let task = create(
        &app,
        &manager,
        json!({"title": "Secret", "assignee_id": ada}),
    )
    .await;
    let id = task["id"].as_str().unwrap();

    let globex = app.token("globex", Role::Manager).await;
    let other = |method: Method, path: String| {
        app.as_user(method, &format!("/api/tasks{path}"), "globex", &globex)
    };
    other(Method::GET, format!("/{id}"))
        .send()
        .await
        .expect_error(404, "not_found");
    other(Method::PATCH, format!("/{id}"))
        .json(&json!({"title": "Mine now"}))
        .send()
        .await
        .expect_error(404, "not_found");
    other(Method::POST, "/".into())
        .json(&json!({"title": "Theirs", "assignee_id": ada}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let board = other(Method::GET, "/kanban".into())
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(board["total"], 0);
}

/// Three collections queried at once: each one's declared indexes are all built
/// (builds of different collections must not undo each other; on PostgreSQL two at
/// once on one table deadlocked).
async fn every_queried_collection_gets_its_declared_indexes(backend: Backend) {
    let app = tasks_app(backend).start().await;
    let ada = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let task = create(&app, &ada, json!({"title": "Index me"})).await;
    let id = task["id"].as_str().unwrap();
    let (tasks, comments, attachments) = tokio::join!(
        call(&app, Method::GET, "/", &ada).send(),
        call(&app, Method::GET, &format!("/{id}/comments"), &ada).send(),
        call(&app, Method::GET, &format!("/{id}/attachments"), &ada).send(),
    );
    for listed in [tasks, comments, attachments] {
        listed.expect(200);
    }
    // tasks declares five indexes, comments and attachments one each.
    let built = app.declared_indexes("demo", 7).await;
    assert_eq!(built.len(), 7, "{built:?}");
    for collection in ["'tasks'", "'comments'", "'attachments'"] {
        assert!(
            built.iter().any(|sql| sql.contains(collection)),
            "{collection}: {built:?}"
        );
    }
}
