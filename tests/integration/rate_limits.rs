//! Per-tenant rate limits: a noisy tenant gets 429s, the others do not notice.

use mosaic::auth::Role;
use mosaic::config::RateLimit;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;

both_backends!(noisy_tenant_is_limited_alone);

async fn noisy_tenant_is_limited_alone(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("noisy", &[])
        .with_tenant("quiet", &[])
        .with_tenant_rate_limit(Some(RateLimit {
            per_second: 1,
            burst: 5,
        }))
        .start()
        .await;
    let noisy = app.token("noisy", Role::Member).await;
    let quiet = app.token("quiet", Role::Member).await;
    // A burst of five goes through; then one a second.
    let mut served = 0;
    let limited = loop {
        let resp = app
            .as_user(Method::GET, "/api/employees/", "noisy", &noisy)
            .send()
            .await;
        if resp.status == 429 {
            break resp.expect_error(429, "rate_limited");
        }
        resp.expect(200);
        served += 1;
        assert!(served < 20, "never limited");
    };
    assert!(served >= 5, "the burst is allowed: {served}");
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.body["retry_after"], 1);
    // The quiet tenant has its own bucket.
    for _ in 0..5 {
        app.as_user(Method::GET, "/api/employees/", "quiet", &quiet)
            .send()
            .await
            .expect(200);
    }
}
