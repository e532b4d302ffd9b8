//! How a request finds its tenant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(
    resolves_by_header_subdomain_and_custom_domain,
    unknown_and_missing_tenants,
    a_custom_domain_cannot_take_over_the_platforms_names,
    a_domain_answers_while_its_tenant_changes,
    a_subdomain_taken_again_resolves_to_its_new_tenant,
    sweeps_only_where_nothing_listens
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

/// While a tenant's domains are reloaded (another domain added and removed, over
/// and over), the domain it keeps resolves every request: each is refused for its
/// missing token (401), which comes after the tenant is found, and never as naming
/// no tenant.
async fn a_domain_answers_while_its_tenant_changes(backend: Backend) {
    let app = Arc::new(
        TestApp::builder(backend)
            .with_tenant("demo", &[])
            .with_tenant_rate_limit(None)
            .start()
            .await,
    );
    let admin = app.admin_token();
    app.req(Method::POST, "/api/admin/tenants/demo/domains")
        .bearer(&admin)
        .json(&json!({"domain": "hr.demo-corp.example"}))
        .send()
        .await
        .expect(201);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut unresolved = Vec::new();
                let mut answered = 0;
                while !stop.load(Ordering::Relaxed) {
                    let resp = app
                        .req(Method::GET, "/api/employees/")
                        .header("host", "hr.demo-corp.example")
                        .send()
                        .await;
                    answered += 1;
                    if resp.status != 401 {
                        unresolved.push(resp.text);
                    }
                }
                (answered, unresolved)
            })
        })
        .collect();
    for i in 0..100 {
        let domain = format!("extra-{i}.demo-corp.example");
        app.req(Method::POST, "/api/admin/tenants/demo/domains")
            .bearer(&admin)
            .json(&json!({ "domain": domain }))
            .send()
            .await
            .expect(201);
        app.req(
            Method::DELETE,
            &format!("/api/admin/tenants/demo/domains/{domain}"),
        )
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let (answered, unresolved) = client.await.expect("client");
        assert!(answered > 0);
        assert!(
            unresolved.is_empty(),
            "{} of {answered} unresolved: {:?}",
            unresolved.len(),
            unresolved.first()
        );
    }
}

/// A subdomain cached for a tenant that is then deleted, and taken by a new one:
/// it leads to the new tenant, not to nothing.
async fn a_subdomain_taken_again_resolves_to_its_new_tenant(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    let old = app.token("acme", Role::Member).await;
    app.as_user(Method::GET, "/api/employees/", "acme", &old)
        .send()
        .await
        .expect(200);
    app.req(Method::DELETE, "/api/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"confirm": "acme"}))
        .send()
        .await
        .expect(204);
    app.as_user(Method::GET, "/api/employees/", "acme", &old)
        .send()
        .await
        .expect_error(404, "not_found");
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&admin)
        .json(&json!({"name": "Acme again", "subdomain": "acme"}))
        .send()
        .await
        .expect(201);
    let new = app.token("acme", Role::Member).await;
    app.as_user(Method::GET, "/api/employees/", "acme", &new)
        .send()
        .await
        .expect(200);
    // The old tenant's token names a tenant that is gone.
    app.as_user(Method::GET, "/api/employees/", "acme", &old)
        .send()
        .await
        .expect(403);
}

/// How often this host read every tenant's generation, from its metrics.
async fn sweeps(app: &TestApp) -> f64 {
    app.metric("mosaic_tenant_sweeps_total")
        .await
        .expect("the sweep counter")
}

/// Where changes arrive by notification (PostgreSQL), the host does not read every
/// tenant's generation each sweep interval, only as a rare safety net; where
/// nothing listens (SQLite) the sweep is how it follows changes.
async fn sweeps_only_where_nothing_listens(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .with_tenant_sweep_interval(Duration::from_millis(50))
        .start()
        .await;
    let first = sweeps(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let swept = sweeps(&app).await - first;
    match backend {
        // The first sweep, and one when the listener connected.
        Backend::Postgres => assert!(swept <= 1.0, "{swept} sweeps while listening"),
        Backend::Sqlite => assert!(swept >= 10.0, "only {swept} sweeps"),
    }
}
