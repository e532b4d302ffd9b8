//! The audit log: filters, and a keyed hash chain that finds altered or removed
//! rows, even when whoever altered them recomputed the hashes.

use mosaic_tests::{Backend, TEST_AUDIT_KEY, TestApp, audit_key, both_backends, mosaic_command};
use reqwest::Method;
use serde_json::json;

both_backends!(
    audit_filters_and_pages,
    an_action_prefix_finds_its_rows_whatever_the_collation,
    before_is_what_the_change_found,
    tampering_is_detected,
    the_chain_is_keyed_and_sealed,
    what_a_sender_chooses_is_stored_only_up_to_a_size
);

async fn audit_filters_and_pages(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .with_tenant("globex", &[])
        .start()
        .await;
    let admin = app.admin_token();
    for enabled in [true, false, true] {
        app.req(Method::POST, "/api/admin/tenants/acme/modules/attendance")
            .bearer(&admin)
            .header("user-agent", "audit-test")
            .json(&json!({"enabled": enabled}))
            .send()
            .await
            .expect(200);
    }
    let get = |query: &str| {
        app.req(Method::GET, &format!("/api/admin/audit?{query}"))
            .bearer(&admin)
            .send()
    };
    let toggles = get("tenant=acme&action=module.").await.expect(200).body;
    let items = toggles["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["action"], "module.enable");
    assert_eq!(items[1]["before"], json!({"enabled": true}));
    assert_eq!(items[1]["after"], json!({"enabled": false}));
    assert_eq!(items[0]["actor"], "user:platform-admin");
    assert_eq!(items[0]["user_agent"], "audit-test");
    assert_eq!(items[0]["ip"], "127.0.0.1");
    assert!(
        items[0]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(
        items[0]["prev_hash"], items[1]["hash"],
        "each row chains to the one before"
    );

    let page1 = get("limit=2").await.expect(200).body;
    let next = page1["next"].as_i64().expect("a next page");
    let page2 = get(&format!("limit=2&before={next}"))
        .await
        .expect(200)
        .body;
    assert!(page2["items"][0]["seq"].as_i64().expect("seq") < next);
    assert_eq!(
        get("action=module.disable").await.expect(200).body["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
    let globex = get("tenant=globex&action=module.").await.expect(200).body;
    assert_eq!(globex["items"], json!([]));
    assert_eq!(
        get("actor=user:nobody").await.expect(200).body["items"],
        json!([])
    );
    let future = get("since=99999999999999").await.expect(200).body;
    assert_eq!(future["items"], json!([]));
    get("limit=0").await.expect_error(422, "validation_failed");
    get("since=yesterday")
        .await
        .expect_error(400, "bad_request");
    get("colour=blue").await.expect_error(400, "bad_request");
}

/// `?action=tenant.` on a PostgreSQL database whose collation ignores punctuation
/// (as ICU's "shifted" alternate and glibc's locales do): a range such as
/// [`tenant.`, `tenant/`) sorts `tenant.approve` outside it there.
async fn an_action_prefix_finds_its_rows_whatever_the_collation(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_postgres_icu_locale("en-US-u-ka-shifted")
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    for (transition, body) in [
        ("suspend", json!({"reason": "unpaid"})),
        ("reactivate", json!({})),
    ] {
        app.req(
            Method::POST,
            &format!("/api/admin/tenants/acme/{transition}"),
        )
        .bearer(&admin)
        .json(&body)
        .send()
        .await
        .expect(200);
    }
    app.req(Method::POST, "/api/admin/tenants/acme/modules/attendance")
        .bearer(&admin)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .expect(200);
    let found = app
        .req(Method::GET, "/api/admin/audit?action=tenant.")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    let actions: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        ["tenant.reactivate", "tenant.suspend", "tenant.create"]
    );
}

/// An audit row's `before` is the state the change's own transaction found, not
/// what this replica had cached: here the rows are changed behind the host's back
/// (as another replica would, its notification not arrived yet).
async fn before_is_what_the_change_found(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &["attendance"])
        .start()
        .await;
    let admin = app.admin_token();
    let tenant_id = app.tenant_id("acme").await;
    // Cached: the name and attendance on.
    app.req(Method::GET, "/api/admin/tenants/acme")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    for statement in [
        "UPDATE tenants SET name = 'Renamed elsewhere' WHERE id = $1",
        "UPDATE tenant_modules SET enabled = 0 WHERE tenant_id = $1 AND module_key = 'attendance'",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(&tenant_id)
            .execute(&app.state.db.pool)
            .await
            .expect("changed behind the host's back");
    }
    app.req(Method::PATCH, "/api/admin/tenants/acme")
        .bearer(&admin)
        .json(&json!({"name": "Acme Corp"}))
        .send()
        .await
        .expect(200);
    app.req(Method::POST, "/api/admin/tenants/acme/modules/attendance")
        .bearer(&admin)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .expect(200);
    let rows = app
        .req(Method::GET, "/api/admin/audit?tenant=acme&limit=2")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(rows["items"][0]["action"], "module.disable");
    assert_eq!(rows["items"][0]["before"], json!({"enabled": false}));
    assert_eq!(rows["items"][1]["action"], "tenant.update");
    assert_eq!(rows["items"][1]["before"]["name"], "Renamed elsewhere");
}

async fn tampering_is_detected(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    let admin = app.admin_token();
    for reason in ["first", "second"] {
        app.req(Method::POST, "/api/admin/tenants/acme/suspend")
            .bearer(&admin)
            .json(&json!({"reason": reason}))
            .send()
            .await
            .expect(200);
        app.req(Method::POST, "/api/admin/tenants/acme/reactivate")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
    }
    let db = &app.state.db;
    let intact = db
        .verify_audit(&audit_key(), None, |_| {})
        .await
        .expect("verify");
    assert!(intact.problem.is_none(), "{intact:?}");
    assert_eq!(intact.rows, 5);

    // Someone with database access rewrites a reason...
    let seq: i64 = sqlx::query_scalar(
        "SELECT seq FROM audit_log WHERE action = 'tenant.suspend' ORDER BY seq LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("row");
    sqlx::query("UPDATE audit_log SET after = $1 WHERE seq = $2")
        .bind(r#"{"status":"suspended","reason":"nothing to see"}"#)
        .bind(seq)
        .execute(&db.pool)
        .await
        .expect("tamper");
    let altered = db
        .verify_audit(&audit_key(), None, |_| {})
        .await
        .expect("verify");
    let problem = altered.problem.expect("alteration found");
    assert_eq!(problem.seq, seq);
    assert!(problem.reason.contains("content"), "{problem:?}");

    // ...or removes it: the chain breaks at the row after.
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(seq)
        .execute(&db.pool)
        .await
        .expect("delete");
    let removed = db
        .verify_audit(&audit_key(), None, |_| {})
        .await
        .expect("verify");
    let problem = removed.problem.expect("removal found");
    assert!(problem.seq > seq);
    assert!(problem.reason.contains("missing"), "{problem:?}");

    if backend == Backend::Sqlite {
        // `mosaic audit verify` fails on the same database.
        let output = mosaic_command(crate::MOSAIC)
            .arg("--data-dir")
            .arg(app.data_dir())
            .args(["--audit-key", TEST_AUDIT_KEY, "audit", "verify"])
            .output()
            .await
            .expect("mosaic audit verify runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("does not hold"), "{stderr}");
    }
}

/// A failed login stores the email typed as its actor, and the user agent sent: an
/// anonymous sender chooses both, so a row keeps only so much of each, and the chain
/// still verifies.
async fn what_a_sender_chooses_is_stored_only_up_to_a_size(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let email = format!("{}@example.com", "a".repeat(400_000));
    let agent = "x".repeat(8_000);
    for _ in 0..3 {
        app.req(Method::POST, "/api/admin/auth/login")
            .header("user-agent", &agent)
            .json(&json!({"email": email, "password": "wrong password!"}))
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    let rows = app
        .req(Method::GET, "/api/admin/audit?action=login.failure")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        let actor = row["actor"].as_str().expect("actor");
        let user_agent = row["user_agent"].as_str().expect("user agent");
        assert!(
            actor.len() <= 320 && actor.ends_with('…'),
            "{}",
            actor.len()
        );
        assert!(
            user_agent.len() <= 256 && user_agent.ends_with('…'),
            "{}",
            user_agent.len()
        );
    }
    let intact = app
        .state
        .db
        .verify_audit(&audit_key(), None, |_| {})
        .await
        .expect("verify");
    assert!(intact.problem.is_none(), "{intact:?}");
}

/// A log whose rows alternate suspensions and reactivations of `acme`.
async fn audited_app(backend: Backend) -> TestApp {
    let app = TestApp::builder(backend)
        .with_tenant("acme", &[])
        .start()
        .await;
    for transition in ["suspend", "reactivate", "suspend"] {
        app.req(
            Method::POST,
            &format!("/api/admin/tenants/acme/{transition}"),
        )
        .bearer(&app.admin_token())
        .json(&json!({"reason": "audit test"}))
        .send()
        .await
        .expect(200);
    }
    app
}

/// Someone with write access to the database but not the key: an edited row
/// rehashed with plain SHA-256 (what the chain was), every hash cleared, the seal
/// removed too. Each is found; the last only against a head exported before.
async fn the_chain_is_keyed_and_sealed(backend: Backend) {
    use sha2::{Digest, Sha256};
    let app = audited_app(backend).await;
    let db = &app.state.db;
    let head = db.audit_head().await.expect("head").expect("a sealed row");
    let intact = db
        .verify_audit(&audit_key(), Some(&head), |_| {})
        .await
        .expect("verify");
    assert!(intact.problem.is_none(), "{intact:?}");
    assert_eq!(
        intact.sealed_from,
        Some(1),
        "a new log is sealed from its first row"
    );
    assert_eq!(intact.head.as_ref(), Some(&head));
    assert_eq!(
        head.to_string().parse::<mosaic::store::AuditHead>(),
        Ok(head.clone())
    );

    // A reason rewritten, its hash recomputed the unkeyed way.
    type Row = (
        i64,
        Option<String>,
        Option<String>,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    );
    let row: Row = sqlx::query_as(
            "SELECT seq, prev_hash, tenant_id, actor, action, target, before, request_id, ip, user_agent, at \
             FROM audit_log WHERE action = 'tenant.suspend' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_one(&db.pool)
        .await
        .expect("row");
    let (seq, prev_hash, tenant_id, actor, action, target, before, request_id, ip, user_agent, at) =
        row;
    let forged_after = r#"{"status":"suspended","reason":"nothing to see"}"#;
    let content = json!([
        prev_hash,
        tenant_id,
        actor,
        action,
        target,
        before,
        forged_after,
        request_id,
        ip,
        user_agent,
        at
    ]);
    let rehashed = hex::encode(Sha256::digest(content.to_string().as_bytes()));
    sqlx::query("UPDATE audit_log SET after = $1, hash = $2 WHERE seq = $3")
        .bind(forged_after)
        .bind(&rehashed)
        .bind(seq)
        .execute(&db.pool)
        .await
        .expect("tamper");
    let problem = db
        .verify_audit(&audit_key(), None, |_| {})
        .await
        .expect("verify")
        .problem
        .expect("the rehashed row is found");
    assert_eq!(problem.seq, seq);
    assert!(problem.reason.contains("content"), "{problem:?}");

    // Every hash cleared: sealed rows without one.
    sqlx::query("UPDATE audit_log SET hash = NULL, prev_hash = NULL")
        .execute(&db.pool)
        .await
        .expect("clear");
    let problem = db
        .verify_audit(&audit_key(), None, |_| {})
        .await
        .expect("verify")
        .problem
        .expect("cleared hashes are found");
    assert!(problem.reason.contains("no hash"), "{problem:?}");

    // The seal removed as well: only the exported head still knows.
    sqlx::query("DELETE FROM audit_seal")
        .execute(&db.pool)
        .await
        .expect("unseal");
    let problem = db
        .verify_audit(&audit_key(), Some(&head), |_| {})
        .await
        .expect("verify")
        .problem
        .expect("a log rewritten from scratch is found against the head");
    assert!(problem.reason.contains("seal"), "{problem:?}");
}

/// `mosaic audit head` and `verify --head` from the command line; a host (or the
/// CLI) with another key refuses the log rather than writing rows nobody can check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_a_head_and_refuses_another_key() {
    let app = audited_app(Backend::Sqlite).await;
    let cli = |args: &[&str]| {
        let mut command = mosaic_command(crate::MOSAIC);
        command.arg("--data-dir").arg(app.data_dir()).args(args);
        command
    };
    let output = cli(&["--audit-key", TEST_AUDIT_KEY, "audit", "head"])
        .output()
        .await
        .expect("mosaic audit head runs");
    assert!(output.status.success(), "{output:?}");
    let head = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(head.parse::<mosaic::store::AuditHead>().is_ok(), "{head}");
    let output = cli(&[
        "--audit-key",
        TEST_AUDIT_KEY,
        "audit",
        "verify",
        "--head",
        &head,
    ])
    .output()
    .await
    .expect("mosaic audit verify runs");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("intact"));

    let other = "another-audit-key-that-is-32-bytes-or-longer";
    let output = cli(&["--audit-key", other, "audit", "verify"])
        .output()
        .await
        .expect("mosaic audit verify runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not the one the log was sealed with"),
        "{stderr}"
    );
    let output = cli(&["--audit-key", "short", "audit", "verify"])
        .output()
        .await
        .expect("mosaic audit verify runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32"));
    // A host with the other key does not start on this database.
    let mut config = mosaic::Config::new(app.data_dir());
    config.audit_key = Some(other.into());
    config.jwt_secret = Some(mosaic_tests::TEST_JWT_SECRET.into());
    let refused = mosaic::AppState::build(config)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{refused:#}").contains("sealed with"),
        "{refused:#}"
    );
}
