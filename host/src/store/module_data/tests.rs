//! Tenant files: opening, the cap on open files, closing when idle, and upkeep
//! visits.

use super::super::records::Scope;
use super::super::records::direct::Direct;
use super::file::MIGRATIONS;
use super::*;

/// A main database in a directory of its own, with its tenant files capped at `most`.
async fn database(name: &str, most: usize) -> (Db, Arc<TenantFiles>) {
    let (mut db, dir) = crate::store::scratch_database(&format!("files-{name}")).await;
    let mut files = TenantFiles::beside(&dir.join("main.db")).expect("a file database");
    files.most_open = AtomicUsize::new(most);
    let files = Arc::new(files);
    db.tenant_files = Some(files.clone());
    (db, files)
}

/// A database whose tenant `t1` has a closed file as an older host left it: without
/// the latest migration (which made the `usage` table); and a connection to it.
async fn closed_file_behind_on_migrations(
    name: &str,
) -> (Db, Arc<TenantFiles>, rusqlite::Connection) {
    let (db, files) = database(name, 16).await;
    drop(db.module_data("t1").await.expect("t1"));
    assert_eq!(db.close_idle_tenant_files(Duration::ZERO).await, 1);
    let latest = MIGRATIONS.iter().map(|m| m.version).max().expect("one");
    let conn = rusqlite::Connection::open(files.path("t1").expect("a path")).expect("opened");
    conn.execute_batch(&format!(
        "DROP TABLE usage; DELETE FROM _sqlx_migrations WHERE version = {latest}"
    ))
    .expect("taken back");
    (db, files, conn)
}

#[tokio::test]
async fn past_the_cap_the_least_recently_used_file_not_in_use_closes() {
    let (db, files) = database("cap", 2).await;
    let held = db.module_data("t1").await.expect("t1");
    drop(db.module_data("t2").await.expect("t2"));
    drop(db.module_data("t3").await.expect("t3"));
    // t1 was used least recently but is held; t2 went instead.
    assert_eq!(files.open_count(), 2);
    assert!(files.open.contains_key("t1") && files.open.contains_key("t3"));
    // A file closed opens again with what it held.
    let mut conn = held.pool.acquire().await.expect("a connection");
    sqlx::query("INSERT INTO event_outbox (tenant_id, id, source, kind, data, occurred_at) VALUES ('t1', 'e1', 'm', 'x', '{}', 0)")
        .execute(&mut *conn)
        .await
        .expect("written");
    drop(conn);
    drop(held);
    drop(db.module_data("t4").await.expect("t4"));
    assert!(!files.open.contains_key("t1"));
    let again = db.module_data("t1").await.expect("t1 again");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM event_outbox")
        .fetch_one(&again.pool)
        .await
        .expect("read");
    assert_eq!(kept, 1);

    // With every open file held, one more still opens, past the cap.
    let (t1, t4) = (again, db.module_data("t4").await.expect("t4"));
    let t5 = db.module_data("t5").await.expect("t5 past the cap");
    assert_eq!(files.open_count(), 3);
    drop((t1, t4, t5));
}

/// A new file is made from the template, migrated; reading it in place starts no
/// pool connection, and the first write does.
#[tokio::test]
async fn a_file_opens_without_a_pool_connection_until_it_is_written() {
    let (db, files) = database("lazy", 16).await;
    let t1 = db.module_data("t1").await.expect("t1");
    let path = files.path("t1").expect("a path");
    let conn = rusqlite::Connection::open(&path).expect("opened");
    assert!(is_migrated(&conn).expect("looked at"));
    let scope = Scope {
        tenant_id: "t1",
        module: "m",
    };
    let read = t1.records().get_direct(
        t1.direct_reads().expect("read in place"),
        scope,
        "c",
        "d1",
        std::time::Instant::now() + Duration::from_secs(5),
    );
    assert!(matches!(read, Ok(Direct::Done(None))), "{read:?}");
    assert_eq!(t1.pool.size(), 0, "no pool connection, no thread");
    sqlx::query("INSERT INTO event_outbox (tenant_id, id, source, kind, data, occurred_at) VALUES ('t1', 'e1', 'm', 'x', '{}', 0)")
        .execute(&t1.pool)
        .await
        .expect("written");
    assert_eq!(t1.pool.size(), 1);
    assert_eq!(
        std::fs::read_dir(&files.dir).expect("the folder").count(),
        3,
        "t1.db, its WAL and shared memory; the template is not left behind"
    );
}

/// A file an older host made, without the latest migration, is migrated when
/// it opens.
#[tokio::test]
async fn a_file_behind_on_migrations_is_migrated_when_it_opens() {
    let (db, _files, conn) = closed_file_behind_on_migrations("behind").await;
    assert!(!is_migrated(&conn).expect("looked at"));
    let t1 = db.module_data("t1").await.expect("t1 again");
    assert!(is_migrated(&conn).expect("looked at"));
    let usage: i64 = sqlx::query_scalar("SELECT count(*) FROM usage")
        .fetch_one(&t1.pool)
        .await
        .expect("the table is back");
    assert_eq!(usage, 0);
}

/// Three tenants' files with a delivered event and a pending one each, `t1`'s
/// closed at a cap of 2; and the tenants' open files by last use, to see that
/// upkeep opens, closes and uses none.
async fn three_files_with_events(
    name: &str,
) -> (Db, impl Fn() -> Vec<(String, i64)>, Vec<(String, i64)>) {
    let (db, files) = database(name, 2).await;
    for tenant in ["t1", "t2", "t3"] {
        let data = db.module_data(tenant).await.expect(tenant);
        sqlx::query(
            "INSERT INTO event_outbox (tenant_id, id, source, kind, data, occurred_at, delivered_at) \
             VALUES ($1, 'old', 'm', 'x', '{}', 0, 0), ($1, 'new', 'm', 'x', '{}', 0, NULL)",
        )
        .bind(tenant)
        .execute(&data.pool)
        .await
        .expect("events");
        sqlx::query(
            "INSERT INTO event_deliveries (tenant_id, subscriber, event_seq, source, next_attempt_at) \
             SELECT tenant_id, 's', seq, source, 7 FROM event_outbox WHERE id = 'new'",
        )
        .execute(&data.pool)
        .await
        .expect("a pending delivery");
    }
    // As in a process just started, which has not yet looked at the main file.
    files.legacy_rows_left.store(true, Ordering::Release);
    let open = move || {
        let mut open: Vec<(String, i64)> = files
            .open
            .iter()
            .map(|f| (f.key().clone(), f.last_used_ms.load(Ordering::Relaxed)))
            .collect();
        open.sort();
        open
    };
    let before = open();
    assert_eq!(
        before.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["t2", "t3"],
        "t1 closed at the cap"
    );
    (db, open, before)
}

/// What the sweep finds in [`three_files_with_events`].
fn due_in_each() -> Vec<(String, i64)> {
    ["t1", "t2", "t3"].map(|t| (t.to_owned(), 7)).to_vec()
}

/// Only the pending event is left in `t1`'s file.
async fn assert_pruned_from_the_closed_file(db: &Db) {
    let t1 = db.module_data("t1").await.expect("t1");
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM event_outbox")
        .fetch_all(&t1.pool)
        .await
        .expect("read");
    assert_eq!(
        left,
        ["new"],
        "the delivered event went, the pending one stays"
    );
}

/// The sweep and the prune visit a closed file on a connection of their own,
/// without opening it (which would evict another), and an open one through its
/// handle, without moving it up the order of use.
#[tokio::test]
async fn upkeep_visits_every_file_and_opens_none() {
    let (db, open, before) = three_files_with_events("visit").await;

    let mut due = db.tenants_with_deliveries().await.expect("swept");
    due.sort();
    assert_eq!(due, due_in_each());
    assert_eq!(db.prune_events(1).await.expect("pruned"), 3);
    assert_eq!(open(), before, "no file opened, closed or used");
    assert_pruned_from_the_closed_file(&db).await;
}

/// At start-up the prune and the sweep are one visit of each file, which opens none.
#[tokio::test]
async fn start_up_upkeep_prunes_and_sweeps_every_file_and_opens_none() {
    let (db, open, before) = three_files_with_events("visit-once").await;

    let (pruned, mut due) = db.prune_and_find_deliveries(1).await.expect("visited");
    due.sort();
    assert_eq!(pruned, 3);
    assert_eq!(due, due_in_each());
    assert_eq!(open(), before, "no file opened, closed or used");
    assert_pruned_from_the_closed_file(&db).await;
}

/// A closed file behind on migrations is opened, and so migrated, to be visited.
#[tokio::test]
async fn upkeep_opens_a_file_behind_on_migrations() {
    let (db, files, conn) = closed_file_behind_on_migrations("visit-behind").await;
    assert_eq!(db.prune_events(1).await.expect("pruned"), 0);
    assert_eq!(files.open_count(), 1);
    assert!(is_migrated(&conn).expect("looked at"));
}

#[tokio::test]
async fn idle_files_close_unless_in_use() {
    let (db, files) = database("idle", 16).await;
    let held = db.module_data("t1").await.expect("t1");
    drop(db.module_data("t2").await.expect("t2"));
    assert_eq!(
        db.close_idle_tenant_files(Duration::from_secs(60)).await,
        0,
        "none idle yet"
    );
    assert_eq!(
        db.close_idle_tenant_files(Duration::ZERO).await,
        1,
        "t2 only: t1 is held"
    );
    assert_eq!(db.open_tenant_files(), 1);
    drop(held);
    assert_eq!(db.close_idle_tenant_files(Duration::ZERO).await, 1);
    assert_eq!(files.open_count(), 0);
}
