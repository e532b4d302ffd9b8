//! Files (issue #10): kept per (tenant, module) with the call's unit of work, capped
//! per file and per tenant, images and PDF judged by their content, and never seen
//! by another module or tenant.

use mosaic::auth::Role;
use mosaic_tests::{Backend, Resp, TestApp, both_backends};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

both_backends!(
    files_round_trip_and_page,
    images_and_pdf_are_judged_by_their_content,
    files_are_capped_per_file_and_per_tenant,
    a_file_goes_with_a_failed_request,
    files_are_private_to_their_module_and_tenant,
);

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .with_guest("clerk")
        .with_guest("relay")
        .with_testbed()
        .with_tenant("acme", &["clerk", "relay", "testbed"])
        .with_tenant("globex", &["clerk"])
        .with_limits(|limits| {
            limits.max_file_bytes = 4096;
            limits.tenant_file_bytes = 10_000;
        })
        .start()
        .await
}

/// `method /api/clerk/files<rest>` as a user of `tenant`.
async fn files_call(app: &TestApp, method: Method, rest: &str, tenant: &str, token: &str) -> Resp {
    app.as_user(method, &format!("/api/clerk/files{rest}"), tenant, token)
        .send()
        .await
}

/// Puts `content` through the clerk as `tenant`; answers the response.
async fn put(
    app: &TestApp,
    token: &str,
    tenant: &str,
    name: &str,
    content_type: &str,
    content: &[u8],
) -> Resp {
    let mut url = reqwest::Url::parse("http://host/api/clerk/files").expect("url");
    url.query_pairs_mut()
        .append_pair("name", name)
        .append_pair("type", content_type);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    app.as_user(Method::POST, &path, tenant, token)
        .raw(content.to_vec())
        .send()
        .await
}

async fn files_round_trip_and_page(backend: Backend) {
    let app = app(backend).await;
    let token = app.token("acme", Role::Member).await;
    let content = b"name,amount\nann,12\n";
    let info = put(&app, &token, "acme", "expenses.csv", "text/csv", content)
        .await
        .expect(201)
        .body;
    assert_eq!(info["name"], "expenses.csv");
    assert_eq!(info["content_type"], "text/csv");
    assert_eq!(info["size"], content.len());
    assert_eq!(info["sha256"], hex::encode(Sha256::digest(content)));
    let id = info["id"].as_str().expect("id").to_owned();

    let got = app
        .as_user(
            Method::GET,
            &format!("/api/clerk/files/{id}"),
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200);
    assert_eq!(got.headers["content-type"], "text/csv");
    assert_eq!(got.text.as_bytes(), content);
    let stat = app
        .as_user(
            Method::GET,
            &format!("/api/clerk/files/{id}/info"),
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(stat, info);

    for n in 0..2 {
        put(
            &app,
            &token,
            "acme",
            &format!("more-{n}.txt"),
            "text/plain",
            b"x",
        )
        .await
        .expect(201);
    }
    let first = app
        .as_user(Method::GET, "/api/clerk/files?limit=2", "acme", &token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["items"][0]["id"], id.as_str(), "oldest first");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .as_user(
            Method::GET,
            &format!("/api/clerk/files?limit=2&cursor={cursor}"),
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["next_cursor"], Value::Null);

    files_call(&app, Method::DELETE, &format!("/{id}"), "acme", &token)
        .await
        .expect(204);
    files_call(&app, Method::GET, &format!("/{id}"), "acme", &token)
        .await
        .expect_error(404, "not_found");
    files_call(&app, Method::DELETE, &format!("/{id}"), "acme", &token)
        .await
        .expect_error(404, "not_found");

    // Names are for display, never paths.
    for bad in ["../../etc/passwd", "", "a\\b"] {
        let refused = put(&app, &token, "acme", bad, "text/plain", b"x")
            .await
            .expect_error(422, "validation_failed")
            .body;
        assert!(
            refused["fields"]["file"]
                .as_str()
                .unwrap_or_default()
                .contains("file name"),
            "{bad:?}: {refused}"
        );
    }
    put(&app, &token, "acme", "a.txt", "not a type", b"x")
        .await
        .expect_error(422, "validation_failed");
}

async fn images_and_pdf_are_judged_by_their_content(backend: Backend) {
    let app = app(backend).await;
    let token = app.token("acme", Role::Member).await;
    // A PNG declared as text is stored as what it is.
    let png = put(&app, &token, "acme", "photo", "text/plain", PNG)
        .await
        .expect(201)
        .body;
    assert_eq!(png["content_type"], "image/png");
    let pdf = put(
        &app,
        &token,
        "acme",
        "proof.pdf",
        "application/octet-stream",
        b"%PDF-1.7\n%\xe2\xe3\n",
    )
    .await
    .expect(201)
    .body;
    assert_eq!(pdf["content_type"], "application/pdf");
    // Script claiming to be an image or a PDF is refused.
    for claimed in ["image/png", "image/svg+xml", "application/pdf"] {
        let refused = put(
            &app,
            &token,
            "acme",
            "x",
            claimed,
            b"<script>alert(1)</script>",
        )
        .await
        .expect_error(422, "validation_failed")
        .body;
        assert!(
            refused["fields"]["file"]
                .as_str()
                .unwrap_or_default()
                .contains("content is not"),
            "{claimed}: {refused}"
        );
    }
}

async fn files_are_capped_per_file_and_per_tenant(backend: Backend) {
    let app = app(backend).await;
    let token = app.token("acme", Role::Member).await;
    put(
        &app,
        &token,
        "acme",
        "big.bin",
        "application/octet-stream",
        &[7; 4097],
    )
    .await
    .expect_error(402, "quota_exceeded");
    let mut ids = Vec::new();
    for n in 0..2 {
        let info = put(
            &app,
            &token,
            "acme",
            &format!("{n}.bin"),
            "application/octet-stream",
            &[1; 4096],
        )
        .await
        .expect(201)
        .body;
        ids.push(info["id"].as_str().expect("id").to_owned());
    }
    // 8192 kept; 2048 more would pass the tenant's 10 000.
    let refused = put(
        &app,
        &token,
        "acme",
        "more.bin",
        "application/octet-stream",
        &[1; 2048],
    )
    .await
    .expect_error(402, "quota_exceeded")
    .body;
    assert!(refused.to_string().contains("8192"), "{refused}");
    // Another tenant has its own total.
    let globex = app.token("globex", Role::Member).await;
    put(
        &app,
        &globex,
        "globex",
        "theirs.bin",
        "application/octet-stream",
        &[1; 4096],
    )
    .await
    .expect(201);
    // Deleting makes room again.
    app.as_user(
        Method::DELETE,
        &format!("/api/clerk/files/{}", ids[0]),
        "acme",
        &token,
    )
    .send()
    .await
    .expect(204);
    put(
        &app,
        &token,
        "acme",
        "more.bin",
        "application/octet-stream",
        &[1; 2048],
    )
    .await
    .expect(201);
}

async fn a_file_goes_with_a_failed_request(backend: Backend) {
    let app = app(backend).await;
    let token = app.token("acme", Role::Member).await;
    app.as_user(
        Method::POST,
        "/api/clerk/files/then-fail?name=x.txt&type=text/plain",
        "acme",
        &token,
    )
    .raw(b"lost".to_vec())
    .send()
    .await
    .expect(500);
    let listed = app
        .as_user(Method::GET, "/api/clerk/files", "acme", &token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"], serde_json::json!([]));
}

async fn files_are_private_to_their_module_and_tenant(backend: Backend) {
    let app = app(backend).await;
    let acme = app.token("acme", Role::Member).await;
    let info = put(
        &app,
        &acme,
        "acme",
        "secret.txt",
        "text/plain",
        b"acme only",
    )
    .await
    .expect(201)
    .body;
    let id = info["id"].as_str().expect("id");
    // Another tenant's clerk, by the same id: not found.
    let globex = app.token("globex", Role::Member).await;
    files_call(&app, Method::GET, &format!("/{id}"), "globex", &globex)
        .await
        .expect_error(404, "not_found");
    files_call(&app, Method::DELETE, &format!("/{id}"), "globex", &globex)
        .await
        .expect_error(404, "not_found");
    // Another module of the same tenant: not found either.
    let seen = app
        .as_user(
            Method::GET,
            &format!("/api/relay/files/{id}"),
            "acme",
            &acme,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(seen["found"], false);
    // The file is still there for its owner.
    files_call(&app, Method::GET, &format!("/{id}"), "acme", &acme)
        .await
        .expect(200);
    // A module without the `files` capability may not keep files.
    app.as_user(Method::POST, "/api/testbed/files", "acme", &acme)
        .send()
        .await
        .expect_error(403, "forbidden");
}
