//! The OpenAPI document at `/api/openapi.json`: it names every route the host and
//! its modules serve and only those, and Schemathesis (a tool nobody here wrote)
//! finds no 5xx and no answer that breaks it, authenticated as each role.

use std::path::PathBuf;
use std::time::Duration;

use mosaic::auth::{Claims, JwtKeys, Role};
use mosaic_tests::{Backend, Replica, TestApp, TestDatabase, both_backends, mosaic_command};
use reqwest::Method;
use serde_json::Value;

both_backends!(
    the_document_names_every_route_that_exists,
    schemathesis_finds_nothing
);

/// `path` with every `{parameter}` filled with `x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn the_document_names_every_route_that_exists(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("enterprise")
        .with_tenant("acme", &["attendance", "wallet", "tasks"])
        .start()
        .await;
    let document = app
        .req(Method::GET, "/api/openapi.json")
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");

    // Every route of every installed module, as its manifest declares it.
    for module in app.state.runtime.modules() {
        for route in &module.manifest.routes {
            let path = format!("/api/{}{}", module.key, route.path);
            let method = route.method.to_ascii_lowercase();
            assert!(
                paths
                    .get(&path)
                    .and_then(|item| item.get(&method))
                    .is_some(),
                "{method} {path} is not in the document"
            );
        }
    }

    // Every documented operation reaches a handler: whatever it answers (no token,
    // an unknown tenant, an empty body), it is not the router's own "no such
    // endpoint" or "method not allowed".
    let token = app.token("acme", Role::TenantAdmin).await;
    let admin = app.admin_token();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("a path item") {
            let method: Method = method.to_ascii_uppercase().parse().expect("a method");
            let bearer = if path.starts_with("/api/admin") {
                &admin
            } else {
                &token
            };
            let answer = app
                .as_user(method.clone(), &concrete(path), "acme", bearer)
                .send()
                .await;
            assert_ne!(answer.status, 405, "{method} {path}: {}", answer.text);
            assert_ne!(
                answer.body["error"], "No such endpoint",
                "{method} {path} is documented but not served"
            );
            operations += 1;
        }
    }
    assert!(operations > 150, "only {operations} operations");
}

/// Where Schemathesis is, installed once per run into the target dir.
async fn schemathesis() -> PathBuf {
    static INSTALLED: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let output = tokio::process::Command::new("bash")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/schemathesis/install.sh"
                ))
                .output()
                .await
                .expect("bash runs");
            assert!(
                output.status.success(),
                "installing schemathesis failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .await
        .clone()
}

const SECRET: &str = "schemathesis-test-secret-of-32-bytes-or-more";

/// A real `mosaic serve` with the demo tenants (`demo` and `acme`, every module on)
/// and no per-tenant rate limit, so the generated requests reach the handlers;
/// then Schemathesis over the whole document as a member, a manager and a tenant
/// admin of `demo`, and last as a platform admin (whose run may suspend or delete
/// the tenants the others need).
async fn schemathesis_finds_nothing(backend: Backend) {
    let command = schemathesis().await;
    let postgres = match backend {
        Backend::Postgres => Some(TestDatabase::create().await),
        Backend::Sqlite => None,
    };
    let mut serve = mosaic_command(crate::MOSAIC);
    serve.args(["--jwt-secret", SECRET]);
    if let Some(db) = &postgres {
        serve.args(["--database-url", &db.url]);
    }
    serve.args(["serve", "--addr", "127.0.0.1:0", "--tenant-rps", "0"]);
    let host = Replica::spawn(serve, tempfile::tempdir().expect("temp dir")).await;

    let keys = JwtKeys::new(SECRET.as_bytes(), &[]).expect("a strong secret");
    let admin = keys
        .issue(&Claims::new(
            "platform-admin".into(),
            None,
            Role::SuperAdmin,
            3600,
        ))
        .expect("sign");
    let demo: Value = reqwest::Client::new()
        .get(host.url("/api/admin/tenants/demo"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("the demo tenant")
        .json()
        .await
        .expect("json");
    let demo_id = demo["id"]
        .as_str()
        .expect("the demo tenant's id")
        .to_owned();
    let reports = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("schemathesis")
        .join(format!("{backend:?}").to_lowercase());
    std::fs::create_dir_all(&reports).expect("report folder");

    let roles = [
        Role::Member,
        Role::Manager,
        Role::TenantAdmin,
        Role::SuperAdmin,
    ];
    for role in roles {
        let (token, tenant) = match role {
            Role::SuperAdmin => (admin.clone(), None),
            role => (
                keys.issue(&Claims::new(
                    format!("schemathesis-{}", role.as_str()),
                    Some(demo_id.clone()),
                    role,
                    3600,
                ))
                .expect("sign"),
                Some("demo"),
            ),
        };
        let report = reports.join(format!("{}.txt", role.as_str()));
        let mut run = tokio::process::Command::new(&command);
        // Schemathesis keeps its cache (examples that failed before) in the folder
        // it runs in: the reports' folder, not the source tree.
        run.current_dir(&reports)
            .arg("--config-file")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schemathesis/schemathesis.toml"
            ))
            .arg("run")
            .arg(host.url("/api/openapi.json"))
            .args(["--no-color", "-H"])
            .arg(format!("Authorization: Bearer {token}"));
        if let Some(tenant) = tenant {
            run.args(["-H", &format!("X-Tenant-ID: {tenant}")]);
        }
        let output = tokio::time::timeout(Duration::from_secs(900), run.output())
            .await
            .expect("schemathesis ends within 15 minutes")
            .expect("schemathesis runs");
        std::fs::write(&report, &output.stdout).expect("report written");
        let text = String::from_utf8_lossy(&output.stdout);
        let summary = text.lines().last().unwrap_or_default().to_owned();
        eprintln!("schemathesis {backend:?} {}: {summary}", role.as_str());
        assert!(
            output.status.success(),
            "schemathesis as {} on {backend:?} found problems (whole report: {}):\n{}",
            role.as_str(),
            report.display(),
            text.lines()
                .skip_while(|line| !line.contains("FAILURES") && !line.contains("ERRORS"))
                .take(120)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
