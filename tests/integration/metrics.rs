//! `/metrics`: the Prometheus exposition, for platform admins and the scraper's
//! token only, in a format a scraper accepts, counting what happened.

use std::collections::BTreeSet;

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::json;

both_backends!(metrics_count_requests_calls_and_refusals);

/// Checks the OpenMetrics text format line by line: every sample belongs to a
/// family declared before it with HELP and TYPE, labels are `name="value"`, values
/// are numbers, and the exposition ends with `# EOF`. Returns the samples.
fn parse_exposition(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    let mut families = BTreeSet::new();
    let mut samples = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (kind, name) = (words.next(), words.next());
            match (kind, name, words.next()) {
                (Some("HELP"), Some(name), Some(_)) => {
                    families.insert(name.to_owned());
                }
                (Some("TYPE"), Some(name), Some(t)) => {
                    assert!(families.contains(name), "TYPE before HELP: {line}");
                    assert!(
                        ["counter", "gauge", "histogram"].contains(&t),
                        "type: {line}"
                    );
                }
                (Some("UNIT"), Some(_), Some(_)) => {}
                _ => panic!("unexpected comment: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        assert!(
            value.parse::<f64>().is_ok() || value == "+Inf",
            "value of {line}"
        );
        let name = series.split('{').next().expect("a name");
        let family = ["_total", "_bucket", "_count", "_sum", "_created"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| families.contains(*base))
            .unwrap_or(name);
        assert!(families.contains(family), "undeclared family: {line}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect("labels in braces");
            for pair in inner.split("\",") {
                let (key, value) = pair.split_once("=\"").expect("name=\"value\"");
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "label name in {line}"
                );
                assert!(!value.contains('\n'), "label value in {line}");
            }
        }
        samples.push((series.to_owned(), value.to_owned()));
    }
    samples
}

fn value_of(samples: &[(String, String)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
        .1
        .parse()
        .expect("a number")
}

async fn metrics_count_requests_calls_and_refusals(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &["employees"])
        .with_anonymous_limits(|limits| limits.sign_ins_per_minute = 1)
        .with_metrics_token("scrape-token-for-tests")
        .start()
        .await;
    let token = app.token("acme", Role::Member).await;
    for _ in 0..2 {
        app.as_user(Method::GET, "/api/employees/", "acme", &token)
            .send()
            .await
            .expect(200);
    }
    for status in [401, 429] {
        app.req(Method::POST, "/api/auth/login")
            .header("x-tenant-id", "acme")
            .json(&json!({"email": "nobody@acme.example", "password": "wrong password!"}))
            .send()
            .await
            .expect(status);
    }

    app.req(Method::GET, "/metrics")
        .send()
        .await
        .expect_error(401, "unauthorized");
    app.req(Method::GET, "/metrics")
        .bearer(&token)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.req(Method::GET, "/metrics")
        .bearer("scrape-token-for-tests-but-longer")
        .send()
        .await
        .expect_error(401, "unauthorized");
    let scraped = app
        .req(Method::GET, "/metrics")
        .bearer("scrape-token-for-tests")
        .send()
        .await
        .expect(200);
    assert!(
        scraped.headers["content-type"]
            .to_str()
            .expect("text")
            .starts_with("application/openmetrics-text"),
    );
    let samples = parse_exposition(&scraped.text);
    let module_route = r#"route="/api/{module}/",method="GET",status="200",plan="starter""#;
    assert_eq!(
        value_of(
            &samples,
            &format!("mosaic_http_requests_total{{{module_route}}}")
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &samples,
            r#"mosaic_http_requests_total{route="/api/auth/login",method="POST",status="429",plan="starter"}"#
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &samples,
            r#"mosaic_module_call_duration_seconds_count{module="employees",outcome="ok"}"#
        ),
        2.0
    );
    assert_eq!(
        value_of(
            &samples,
            r#"mosaic_instance_wait_duration_seconds_count{module="employees"}"#
        ),
        2.0
    );
    assert_eq!(
        value_of(&samples, r#"mosaic_rate_limited_total{kind="sign_in"}"#),
        1.0
    );
    assert_eq!(value_of(&samples, "mosaic_slots"), 1.0);
    value_of(&samples, "mosaic_mail_queued");
    value_of(&samples, "mosaic_event_tenants_waiting");

    // A platform admin may read them too; the scrape itself is counted.
    let again = app
        .req(Method::GET, "/metrics")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200);
    let samples = parse_exposition(&again.text);
    assert_eq!(
        value_of(
            &samples,
            r#"mosaic_http_requests_total{route="/metrics",method="GET",status="200",plan="none"}"#
        ),
        1.0
    );
}

/// A module stopped at its deadline counts as a limit hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hit_are_counted_by_kind() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_testbed()
        .with_tenant("acme", &["testbed"])
        .with_limits(|limits| limits.call_timeout = std::time::Duration::from_millis(200))
        .start()
        .await;
    let token = app.token("acme", Role::Member).await;
    app.as_user(Method::GET, "/api/testbed/spin", "acme", &token)
        .send()
        .await
        .expect_error(500, "module_timeout");
    let scraped = app
        .req(Method::GET, "/metrics")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200);
    let samples = parse_exposition(&scraped.text);
    assert_eq!(
        value_of(&samples, r#"mosaic_limits_hit_total{kind="deadline"}"#),
        1.0
    );
    assert_eq!(
        value_of(
            &samples,
            r#"mosaic_module_call_duration_seconds_count{module="testbed",outcome="timeout"}"#
        ),
        1.0
    );
}
