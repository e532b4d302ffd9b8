//! The benchmarks' native baselines (`serve --bench-routes`): a ratio against a
//! baseline means something only if the baseline serves what the module serves.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;

both_backends!(the_native_baselines_serve_the_module_list_byte_for_byte);

async fn the_native_baselines_serve_the_module_list_byte_for_byte(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_bench_routes()
        .with_tenant("demo", &[])
        .with_tenant("other", &[])
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    for i in 0..5 {
        app.hire(
            "demo",
            &format!("Employee {i}"),
            &format!("e{i}@demo.example"),
            1000 + i,
        )
        .await;
    }
    app.hire("other", "Someone Else", "else@other.example", 1)
        .await;
    let get = |path: String| {
        let admin = admin.clone();
        let app = &app;
        async move { app.as_user(Method::GET, &path, "demo", &admin).send().await }
    };

    let clustered = "/api/_native/employees-clustered";
    get(format!("{clustered}?limit=2"))
        .await
        .expect_error(404, "not_found");
    let copied = app
        .as_user(Method::POST, clustered, "demo", &admin)
        .send()
        .await
        .expect(200);
    assert_eq!(copied.body["copied"], 5, "only the caller's employees");

    let mut natives = vec!["/api/_native/employees", clustered];
    if backend == Backend::Sqlite {
        natives.push("/api/_native/employees-direct");
    }
    // Every page, following the module's cursors: two full pages and the last one.
    let mut cursor = String::new();
    for page in 0..3 {
        let module = get(format!("/api/employees/?limit=2{cursor}"))
            .await
            .expect(200);
        assert_eq!(
            module.body["items"].as_array().map(Vec::len),
            Some(if page < 2 { 2 } else { 1 })
        );
        for native in &natives {
            let answer = get(format!("{native}?limit=2{cursor}")).await.expect(200);
            assert_eq!(answer.text, module.text, "{native}, page {page}");
        }
        cursor = module.body["next_cursor"]
            .as_str()
            .map(|next| format!("&cursor={next}"))
            .unwrap_or_default();
    }
    assert!(cursor.is_empty(), "the last page has no next cursor");

    for native in &natives {
        get(format!("{native}?cursor=not-a-cursor"))
            .await
            .expect_error(400, "bad_request");
        get(format!("{native}?limit=many"))
            .await
            .expect_error(400, "bad_request");
    }
}
