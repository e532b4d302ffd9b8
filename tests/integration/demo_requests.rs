//! Demo requests: the public form, its rate limit, and converting one into a tenant
//! whose first admin is invited by mail.

use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(
    request_and_convert,
    form_refusals_and_rate_limit,
    a_conversion_is_whole_or_nothing
);

async fn request_and_convert(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let sent = app
        .req(Method::POST, "/api/demo-requests")
        .json(&json!({
            "company": "Wayne Enterprises", "contact_name": "Lucius Fox",
            "email": "Lucius@Wayne.example", "message": "We need attendance for 300 people.",
        }))
        .send()
        .await
        .expect(201)
        .body;
    let id = sent["id"].as_str().expect("id").to_owned();
    assert_eq!(sent["status"], "new");

    let admin = app.admin_token();
    let listed = app
        .req(Method::GET, "/api/admin/demo-requests?status=new")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"][0]["email"], "lucius@wayne.example");
    assert_eq!(listed["items"][0]["company"], "Wayne Enterprises");

    let convert = |subdomain: &str| {
        app.req(
            Method::POST,
            &format!("/api/admin/demo-requests/{id}/convert"),
        )
        .bearer(&admin)
        .json(&json!({"subdomain": subdomain, "modules": ["attendance"]}))
    };
    convert("www")
        .send()
        .await
        .expect_error(422, "validation_failed");
    let converted = convert("wayne").send().await.expect(201).body;
    assert_eq!(converted["tenant"]["name"], "Wayne Enterprises");
    assert_eq!(converted["tenant"]["status"], "active");
    assert_eq!(converted["tenant"]["contact_email"], "lucius@wayne.example");
    assert_eq!(converted["tenant"]["modules"]["attendance"], true);
    convert("wayne-2")
        .send()
        .await
        .expect_error(409, "conflict");
    app.req(Method::POST, "/api/admin/demo-requests/no-such-id/convert")
        .bearer(&admin)
        .json(&json!({"subdomain": "nobody"}))
        .send()
        .await
        .expect_error(404, "not_found");
    let converted_list = app
        .req(Method::GET, "/api/admin/demo-requests?status=converted")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(
        converted_list["items"][0]["tenant_id"],
        converted["tenant"]["id"]
    );

    // The requester is the first TENANT_ADMIN, invited to choose a password.
    let token = crate::accounts::mailed_token(&app, "lucius@wayne.example").await;
    app.req(Method::POST, "/api/auth/invite/accept")
        .json(&json!({"token": token, "password": "applied sciences division"}))
        .send()
        .await
        .expect(204);
    let login = app
        .req(Method::POST, "/api/auth/login")
        .header("x-tenant-id", "wayne")
        .json(&json!({"email": "lucius@wayne.example", "password": "applied sciences division"}))
        .send()
        .await
        .expect(200)
        .body;
    let access = login["access"].as_str().expect("access");
    let users = app
        .as_user(Method::GET, "/api/users/", "wayne", access)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(users["items"][0]["role"], "TENANT_ADMIN");
}

async fn form_refusals_and_rate_limit(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let send = |body: serde_json::Value| {
        app.req(Method::POST, "/api/demo-requests")
            .json(&body)
            .send()
    };
    let bad = send(json!({"company": "", "contact_name": "X", "email": "nope"}))
        .await
        .expect_error(422, "validation_failed");
    assert!(bad.body["fields"]["company"].is_string());
    assert!(bad.body["fields"]["email"].is_string());
    send(json!({"company": "X"}))
        .await
        .expect_error(422, "validation_failed");
    app.req(Method::POST, "/api/demo-requests")
        .raw("{\"company\":")
        .send()
        .await
        .expect_error(400, "bad_request");
    app.req(Method::GET, "/api/admin/demo-requests?status=lost")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect_error(422, "validation_failed");

    // Five per address and hour; the refused forms above cost nothing.
    let ok = json!({"company": "Stark", "contact_name": "Pepper", "email": "pepper@stark.example"});
    for _ in 0..5 {
        send(ok.clone()).await.expect(201);
    }
    let limited = send(ok).await.expect_error(429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0);
    assert_eq!(limited.body["retry_after"], retry_after);
    let stored = app
        .req(Method::GET, "/api/admin/demo-requests")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(
        stored["items"].as_array().expect("items").len(),
        5,
        "refused requests store nothing"
    );
}

/// The tenant, its first admin and the invitation mailed to them are one
/// transaction: when the mail cannot be queued, no tenant is left behind without
/// the invitation its admin needs, and the request can be converted again.
async fn a_conversion_is_whole_or_nothing(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let id = app
        .req(Method::POST, "/api/demo-requests")
        .json(
            &json!({"company": "Initech", "contact_name": "Bill", "email": "bill@initech.example"}),
        )
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let pool = &app.state.db.pool;
    let (refuse_mail, allow_mail): (&[&str], &[&str]) = match backend {
        Backend::Sqlite => (
            &["CREATE TRIGGER no_mail BEFORE INSERT ON mail_outbox \
               BEGIN SELECT RAISE(ABORT, 'mail refused'); END"],
            &["DROP TRIGGER no_mail"],
        ),
        Backend::Postgres => (
            &[
                "CREATE FUNCTION refuse_mail() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'mail refused'; END $$",
                "CREATE TRIGGER no_mail BEFORE INSERT ON mail_outbox \
                 FOR EACH ROW EXECUTE FUNCTION refuse_mail()",
            ],
            &["DROP TRIGGER no_mail ON mail_outbox"],
        ),
    };
    for statement in refuse_mail {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(pool)
            .await
            .expect("trigger");
    }
    let admin = app.admin_token();
    let convert = || {
        app.req(
            Method::POST,
            &format!("/api/admin/demo-requests/{id}/convert"),
        )
        .bearer(&admin)
        .json(&json!({"subdomain": "initech"}))
        .send()
    };
    convert().await.expect_error(500, "internal");
    app.req(Method::GET, "/api/admin/tenants/initech")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    let still_new = app
        .req(Method::GET, "/api/admin/demo-requests?status=new")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(still_new["items"][0]["id"], id.as_str());

    for statement in allow_mail {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(pool)
            .await
            .expect("trigger dropped");
    }
    convert().await.expect(201);
    let token = crate::accounts::mailed_token(&app, "bill@initech.example").await;
    app.req(Method::POST, "/api/auth/invite/accept")
        .json(&json!({"token": token, "password": "a stapler of my own"}))
        .send()
        .await
        .expect(204);
}
