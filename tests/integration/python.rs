//! A module written in Python (examples/notes-py, built by componentize-py from the
//! Python package registry) against the same WIT contract: installed through the
//! admin API, serving its routes and using the store, on both databases.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

/// Runs the example's build script; the component lands under the target dir.
async fn build_notes_py() -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = tokio::process::Command::new("bash")
        .arg(format!("{root}/examples/notes-py/build.sh"))
        .output()
        .await
        .expect("bash runs");
    assert!(
        output.status.success(),
        "building the Python module failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
    std::fs::read(format!("{target}/notes-py/notes-py.wasm")).expect("the component")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_module_serves_and_stores() {
    let wasm = build_notes_py().await;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::builder(backend)
            .with_tenant("demo", &[])
            .with_tenant("acme", &[])
            .start()
            .await;
        let installed = app
            .req(Method::POST, "/api/admin/modules")
            .bearer(&app.admin_token())
            .header("content-type", "application/wasm")
            .raw_bytes(wasm.clone())
            .send()
            .await
            .expect(201);
        assert_eq!(installed.body["key"], "notes-py");
        assert_eq!(installed.body["state"], "active", "it requests nothing");
        assert_eq!(installed.body["contract"], "0.2.0");
        app.req(Method::POST, "/api/admin/tenants/demo/modules/notes-py")
            .bearer(&app.admin_token())
            .json(&json!({"enabled": true}))
            .send()
            .await
            .expect(200);
        let demo = app.token("demo", Role::Member).await;
        let note = app
            .as_user(Method::POST, "/api/notes-py/", "demo", &demo)
            .json(&json!({"text": "written in Python"}))
            .send()
            .await
            .expect(201);
        let id = note.body["id"].as_str().expect("id").to_owned();
        assert_eq!(note.body["text"], "written in Python");
        let listed = app
            .as_user(Method::GET, "/api/notes-py/", "demo", &demo)
            .send()
            .await
            .expect(200);
        assert_eq!(listed.body["language"], "python");
        assert_eq!(listed.body["items"][0]["id"], id.as_str());
        app.as_user(Method::GET, &format!("/api/notes-py/{id}"), "demo", &demo)
            .send()
            .await
            .expect(200);
        app.as_user(Method::GET, "/api/notes-py/nope", "demo", &demo)
            .send()
            .await
            .expect_error(404, "not_found");
        app.as_user(Method::POST, "/api/notes-py/", "demo", &demo)
            .raw("{not json")
            .send()
            .await
            .expect_error(400, "bad_request");
        app.as_user(Method::POST, "/api/notes-py/", "demo", &demo)
            .json(&json!({"text": 7}))
            .send()
            .await
            .expect_error(422, "validation_failed");
        // Another tenant sees neither the module nor the note.
        let acme = app.token("acme", Role::Member).await;
        app.as_user(Method::GET, "/api/notes-py/", "acme", &acme)
            .send()
            .await
            .expect_gated("notes-py");
    }
}
