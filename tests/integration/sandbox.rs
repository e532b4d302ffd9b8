//! Attacks by a hostile module (issue #9): each may fail only its own request.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;

use crate::limits::testbed;

both_backends!(
    waits_in_wasi_end_at_the_deadline,
    events_are_capped,
    a_refused_response_writes_nothing,
    nested_call_bodies_are_capped,
    a_log_flood_is_cut_to_the_budget,
    spinning_modules_leave_cpu_for_other_tenants,
    query_pages_stop_at_their_byte_budget,
    a_tenant_holding_its_writes_never_holds_anothers
);

/// The intruder and the testbed it calls, enabled for `demo`.
async fn intruder(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .with_testbed()
        .with_guest("intruder")
        .with_tenant("demo", &["testbed", "intruder"])
        .start()
        .await
}

/// Stored rows of a table for the tenant, straight from the database.
async fn count_rows(app: &TestApp, table: &str, tenant: &str) -> i64 {
    let tenant_id = app.tenant_id(tenant).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"
    )))
    .bind(tenant_id)
    .fetch_one(&app.module_data(tenant).await.pool)
    .await
    .expect("count rows")
}

/// A module that sleeps (a WASI clock poll, out of the epoch deadline's reach) is
/// stopped at the request's deadline, and what it wrote before is rolled back.
async fn waits_in_wasi_end_at_the_deadline(backend: Backend) {
    let timeout = Duration::from_millis(800);
    let app = testbed(backend, |l| l.call_timeout = timeout).await;
    let demo = app.token("demo", Role::Member).await;
    for path in [
        "/api/testbed/sleep?ms=30000",
        "/api/testbed/write-then-sleep?ms=30000",
    ] {
        let method = if path.contains("write") {
            Method::POST
        } else {
            Method::GET
        };
        let started = Instant::now();
        app.as_user(method, path, "demo", &demo)
            .send()
            .await
            .expect_error(500, "module_timeout");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
            "{path} took {elapsed:?}"
        );
    }
    let notes = app
        .as_user(Method::GET, "/api/testbed/notes", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(
        notes.body["count"], 0,
        "the write before the sleep was rolled back"
    );
    // The instance that slept was discarded; the slot serves the next request.
    app.as_user(Method::GET, "/api/testbed/fixed", "demo", &demo)
        .send()
        .await
        .expect(200);
}

/// Events are capped like documents: data size, subject size and how many one
/// request may emit; a refused event fails its request and stores nothing.
async fn events_are_capped(backend: Backend) {
    let app = intruder(backend).await;
    let demo = app.token("demo", Role::Member).await;
    for path in [
        "/api/intruder/event?bytes=2097152",
        "/api/intruder/event?subject&bytes=1024",
        "/api/intruder/events?count=1001",
    ] {
        let refused = app.as_user(Method::POST, path, "demo", &demo).send().await;
        assert!(refused.status.as_u16() >= 400, "{path}: {}", refused.text);
    }
    assert_eq!(count_rows(&app, "event_outbox", "demo").await, 0);
    // Within the caps, events are stored.
    app.as_user(
        Method::POST,
        "/api/intruder/events?count=1000",
        "demo",
        &demo,
    )
    .send()
    .await
    .expect(204);
    assert_eq!(count_rows(&app, "event_outbox", "demo").await, 1000);
}

/// A response the host refuses (too many headers, a header over the size cap) is a
/// 5xx, and a 5xx leaves no write behind.
async fn a_refused_response_writes_nothing(backend: Backend) {
    let app = intruder(backend).await;
    let demo = app.token("demo", Role::Member).await;
    app.as_user(
        Method::GET,
        "/api/intruder/headers?count=40000",
        "demo",
        &demo,
    )
    .send()
    .await
    .expect_error(500, "module_bad_response");
    app.as_user(
        Method::GET,
        "/api/intruder/big-header?bytes=8388608",
        "demo",
        &demo,
    )
    .send()
    .await
    .expect_error(500, "module_response_too_large");
    assert_eq!(count_rows(&app, "records", "demo").await, 0);
    // Within the caps, the headers arrive and the write stays.
    let fine = app
        .as_user(Method::GET, "/api/intruder/headers?count=50", "demo", &demo)
        .send()
        .await
        .expect(204);
    assert!(fine.headers.contains_key("x-intruder-49"));
    assert_eq!(count_rows(&app, "records", "demo").await, 1);
}

/// `modules.call` bodies are capped like HTTP bodies: the target never runs.
async fn nested_call_bodies_are_capped(backend: Backend) {
    let app = intruder(backend).await;
    let demo = app.token("demo", Role::Member).await;
    let reply = app
        .as_user(
            Method::POST,
            "/api/intruder/call-big-body?bytes=8388608",
            "demo",
            &demo,
        )
        .send()
        .await
        .expect(200);
    assert_eq!(reply.body["status"], 413);
    let reply = app
        .as_user(
            Method::POST,
            "/api/intruder/call-big-body?bytes=1000",
            "demo",
            &demo,
        )
        .send()
        .await
        .expect(200);
    assert_eq!(reply.body["status"], 200);
}

/// A log flood costs the host a budget's worth of lines; the rest are dropped and
/// counted for the tenant's health.
async fn a_log_flood_is_cut_to_the_budget(backend: Backend) {
    let app = intruder(backend).await;
    let demo = app.token("demo", Role::Member).await;
    app.as_user(
        Method::POST,
        "/api/intruder/log-flood?count=20000",
        "demo",
        &demo,
    )
    .send()
    .await
    .expect(204);
    let dropped = app
        .state
        .runtime
        .log_lines_dropped(&app.tenant_id("demo").await);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0, "intruder");
    assert!(dropped[0].1 >= 19_000, "{dropped:?}");
}

/// A module that claims a shipped module's key or core status, or fails in
/// `describe`, is refused at start-up and reported; the host serves the others,
/// and the shipped modules keep their keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_impostor_modules_are_refused_and_the_rest_serve() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_guest("impostor")
        .with_guest("usurper")
        .with_guest("broken")
        .with_tenant("demo", &[])
        .start()
        .await;
    let health = app.req(Method::GET, "/healthz").send().await.expect(200);
    assert_eq!(health.body["status"], "degraded");
    let refused = health.body["refused_modules"]
        .as_array()
        .expect("refused list");
    let reason = |guest: &str| {
        refused
            .iter()
            .find(|r| {
                r["source"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(&format!("{guest}.wasm")))
            })
            .and_then(|r| r["error"].as_str())
            .unwrap_or_else(|| panic!("{guest} is not reported: {refused:?}"))
            .to_owned()
    };
    assert!(reason("impostor").contains("belongs to a module the host ships"));
    assert!(reason("usurper").contains("belongs to a module the host ships"));
    assert!(reason("broken").contains("describe failed"));
    assert_eq!(refused.len(), 3);

    // The real employees module serves; the shipped notifications module kept its key.
    let demo = app.token("demo", Role::Member).await;
    let list = app
        .as_user(Method::GET, "/api/employees/", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert!(list.body.get("stolen").is_none(), "{}", list.text);
    let notifications = app
        .state
        .runtime
        .module("notifications")
        .expect("the shipped notifications module");
    assert_ne!(notifications.manifest.version, "9.9.9", "not the usurper");

    let admin = app.admin_token();
    let modules = app
        .req(Method::GET, "/api/admin/modules")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(modules.body["refused"].as_array().map(Vec::len), Some(3));
    let employees = modules.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["key"] == "employees")
        .expect("employees installed")
        .clone();
    assert_eq!(employees["version"], "0.1.0");
}

/// Many spinning calls of one tenant run on the low-priority CPU-bound pool: a
/// quiet tenant's requests are served meanwhile, each well before the spinners'
/// deadline (the noisy-neighbour benchmark measures how much slower).
async fn spinning_modules_leave_cpu_for_other_tenants(backend: Backend) {
    let app = testbed(backend, |l| {
        l.call_timeout = Duration::from_secs(3);
        l.instances_per_slot = 16;
        l.queue_timeout = Duration::from_secs(3);
    })
    .await;
    let demo = app.token("demo", Role::Member).await;
    let acme = app.token("acme", Role::TenantAdmin).await;
    let spinners: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(
                app.as_user(Method::GET, "/api/testbed/spin", "demo", &demo)
                    .send(),
            )
        })
        .collect();
    app.wait_until_busy("demo", "testbed").await;
    for _ in 0..20 {
        let started = Instant::now();
        app.as_user(Method::GET, "/api/employees/", "acme", &acme)
            .send()
            .await
            .expect(200);
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "a quiet request took {:?} beside 16 spinning calls",
            started.elapsed()
        );
    }
    for spinner in spinners {
        spinner
            .await
            .expect("joined")
            .expect_error(500, "module_timeout");
    }
}

/// A query page holds at most 4 MiB of documents whatever its limit, so a module
/// cannot make the host materialise 500 documents of 1 MiB; the cursor reads on.
async fn query_pages_stop_at_their_byte_budget(backend: Backend) {
    let app = intruder(backend).await;
    let demo = app.token("demo", Role::Member).await;
    app.as_user(Method::POST, "/api/intruder/hoard?count=12", "demo", &demo)
        .send()
        .await
        .expect(204);
    let read = app
        .as_user(Method::GET, "/api/intruder/hoard", "demo", &demo)
        .send()
        .await
        .expect(200);
    assert_eq!(read.body["read"], 12, "{}", read.text);
    assert_eq!(read.body["distinct"], 12, "{}", read.text);
    assert_eq!(read.body["largest_page"], 4, "{}", read.text);
    assert_eq!(read.body["pages"], 3, "{}", read.text);
}

/// A tenant whose request writes and then holds its unit of work open (a sleep up
/// to its deadline) delays no other tenant's writes: on SQLite each tenant's module
/// data has a file and a writer of its own, and PostgreSQL has no such lock.
async fn a_tenant_holding_its_writes_never_holds_anothers(backend: Backend) {
    let app = testbed(backend, |l| l.call_timeout = Duration::from_secs(3)).await;
    let demo = app.token("demo", Role::Member).await;
    let acme = app.token("acme", Role::Member).await;
    let holder = tokio::spawn(
        app.as_user(
            Method::POST,
            "/api/testbed/write-then-sleep?ms=1500",
            "demo",
            &demo,
        )
        .send(),
    );
    app.wait_until_busy("demo", "testbed").await;
    // Let the holder's write begin its transaction.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..10 {
        let started = Instant::now();
        app.as_user(
            Method::POST,
            "/api/testbed/write-then-fail?status=201",
            "acme",
            &acme,
        )
        .send()
        .await
        .expect(201);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "a write waited {:?} on another tenant's unit of work",
            started.elapsed()
        );
    }
    assert!(
        !holder.is_finished(),
        "the holder still held its unit of work"
    );
    holder.await.expect("joined").expect(204);
    assert_eq!(count_rows(&app, "records", "acme").await, 10);
    assert_eq!(count_rows(&app, "records", "demo").await, 1);
}

/// Module data an older host kept in the main SQLite file moves into the tenant's
/// own file the first time the tenant's data is opened, and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_module_data_written_by_an_older_host_is_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("mosaic.db").display()
    );
    let db = mosaic::store::Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    for (tenant, id) in [("t1", "a"), ("t1", "b"), ("t2", "c")] {
        sqlx::query(
            "INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at) \
             VALUES ($1, 'notes', 'notes', $2, 1, '{}', 0, 0)",
        )
        .bind(tenant)
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("legacy row");
    }
    let count = async |pool: &sqlx::AnyPool, tenant: &str| -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(pool)
            .await
            .expect("count")
    };
    let t1 = db.module_data("t1").await.expect("open t1");
    assert_eq!(count(&t1.pool, "t1").await, 2, "moved into t1's file");
    assert_eq!(count(&t1.pool, "t2").await, 0, "nothing of t2's");
    assert_eq!(count(&db.pool, "t1").await, 0, "gone from the main file");
    assert_eq!(count(&db.pool, "t2").await, 1, "t2 moves when t2 opens");
    let again = mosaic::store::Db::connect(&url).await.expect("reconnect");
    let t1 = again.module_data("t1").await.expect("reopen t1");
    assert_eq!(count(&t1.pool, "t1").await, 2, "moved once");
}

/// A module's reads run in place on the request's thread (SQLite) only while they
/// are short: one that scans 20,000 documents runs past its budget of a
/// millisecond, is finished through the pool off that thread, and answers right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_leaves_the_executor_and_still_answers() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("acme", &[])
        .start()
        .await;
    let tenant_id = app.tenant_id("acme").await;
    let data = app.module_data("acme").await;
    let mut tx = data.pool.begin().await.expect("begin");
    for i in 0..20_000 {
        let department = if i == 19_999 { "Needle" } else { "Hay" };
        let doc = serde_json::json!({
            "name": format!("Employee {i}"), "email": format!("e{i}@acme.example"),
            "department": department, "status": "active", "salary": 1, "hired_on": "2024-01-01",
        });
        sqlx::query(
            "INSERT INTO records (tenant_id, module, collection, id, version, data, created_at, updated_at) \
             VALUES ($1, 'employees', 'employees', $2, 1, $3, 0, 0)",
        )
        .bind(&tenant_id)
        .bind(format!("e-{i:05}"))
        .bind(doc.to_string())
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");

    let reads = async |way: &str| {
        app.metric(&format!("mosaic_document_reads_total{{kind=\"{way}\"}}"))
            .await
            .unwrap_or(0.0)
    };
    let token = app.token("acme", Role::TenantAdmin).await;
    let first = app
        .as_user(Method::GET, "/api/employees/", "acme", &token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(first["items"].as_array().expect("items").len(), 50);
    assert!(reads("in_place").await >= 1.0);
    assert_eq!(reads("over_budget").await, 0.0);

    let found = app
        .as_user(
            Method::GET,
            "/api/employees/?department=Needle",
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200)
        .body;
    let items = found["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], "e-19999");
    assert_eq!(
        reads("over_budget").await,
        1.0,
        "the scan ran past its budget"
    );
}
