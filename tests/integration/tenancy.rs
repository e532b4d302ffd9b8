//! How a request finds its tenant.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;

both_backends!(
    resolves_by_header_subdomain_and_custom_domain,
    unknown_and_missing_tenants,
    a_custom_domain_cannot_take_over_the_platforms_names
);

/// A tenant's own domain may not be the base domain, a name under it (another
/// tenant's subdomain), a reserved name or an IP address: each would take requests
/// meant for someone else.
async fn a_custom_domain_cannot_take_over_the_platforms_names(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_base_domain("mosaic.test")
        .with_tenant("demo", &[])
        .with_tenant("alpha", &[])
        .start()
        .await;
    for domain in [
        "alpha.mosaic.test",
        "mosaic.test",
        "www.mosaic.test",
        "10.0.0.1",
        "intranet.local",
        "my.localhost",
    ] {
        let refused = app
            .req(Method::POST, "/api/admin/tenants/demo/domains")
            .bearer(&app.admin_token())
            .json(&serde_json::json!({ "domain": domain }))
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"]["domain"].is_string(),
            "{domain}: {}",
            refused.text
        );
    }
    // alpha's users still reach alpha.
    let alpha = app.token("alpha", Role::Member).await;
    app.req(Method::GET, "/api/employees/")
        .header("host", "alpha.mosaic.test")
        .bearer(&alpha)
        .send()
        .await
        .expect(200);
}

async fn resolves_by_header_subdomain_and_custom_domain(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_base_domain("mosaic.test")
        .with_tenant("demo", &[])
        .start()
        .await;
    let token = app.token("demo", Role::Member).await;

    let by_header = app
        .as_user(Method::GET, "/api/employees/", "demo", &token)
        .send()
        .await;
    by_header.expect(200);

    let by_subdomain = app
        .req(Method::GET, "/api/employees/")
        .header("host", "demo.mosaic.test")
        .bearer(&token)
        .send()
        .await;
    by_subdomain.expect(200);

    let demo_id = app.tenant_id("demo").await;
    app.req(Method::POST, "/api/admin/tenants/demo/domains")
        .bearer(&app.admin_token())
        .json(&serde_json::json!({"domain": "HR.demo-corp.example"}))
        .send()
        .await
        .expect(201);
    let by_domain = app
        .req(Method::GET, "/api/employees/")
        .header("host", "HR.demo-corp.example:443")
        .bearer(&token)
        .send()
        .await;
    by_domain.expect(200);

    // The tenant id works in the header as well as the subdomain.
    app.as_user(Method::GET, "/api/employees/", &demo_id, &token)
        .send()
        .await
        .expect(200);
}

async fn unknown_and_missing_tenants(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_base_domain("mosaic.test")
        .with_tenant("demo", &[])
        .start()
        .await;
    let token = app.token("demo", Role::Member).await;

    let unknown = app
        .as_user(Method::GET, "/api/employees/", "nope", &token)
        .send()
        .await;
    unknown.expect_error(404, "not_found");

    let unknown_subdomain = app
        .req(Method::GET, "/api/employees/")
        .header("host", "nope.mosaic.test")
        .bearer(&token)
        .send()
        .await;
    unknown_subdomain.expect_error(404, "not_found");

    let missing = app
        .req(Method::GET, "/api/employees/")
        .bearer(&token)
        .send()
        .await;
    let missing = missing.expect_error(400, "bad_request");
    assert!(missing.body["request_id"].is_string(), "{}", missing.text);

    app.req(Method::GET, "/no/such/endpoint")
        .send()
        .await
        .expect_error(404, "not_found");
    app.req(Method::GET, "/healthz").send().await.expect(200);
}
