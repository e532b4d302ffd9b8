//! Schema migrations on a real database: a database migrated while 0005 carried an
//! edited comment starts again, and any other changed checksum still refuses.

use mosaic::store::Db;
use mosaic_tests::{Backend, TestDatabase, both_backends};

/// The SHA-384 that the edited 0005 file left in `_sqlx_migrations`.
fn edited_0005_checksum(backend: Backend) -> Vec<u8> {
    let hex = match backend {
        Backend::Sqlite => {
            "b2e2cfbb3d91b20ab8ed8ce50948b5a35009d6726fcd4a6e754e573a058060e299c8c63dd4442a21da41046537e86f4c"
        }
        Backend::Postgres => {
            "7da281f6ae133a2fe599651908e230f3cf5cb03339825a9fc90de30808fef9557ec0f6406940363d65d68071d12409ea"
        }
    };
    hex::decode(hex).expect("hex")
}

async fn set_checksum(db: &Db, version: i64, checksum: Vec<u8>) {
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2")
        .bind(checksum)
        .bind(version)
        .execute(&db.pool)
        .await
        .expect("update checksum");
}

async fn checksum(db: &Db, version: i64) -> Vec<u8> {
    sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = $1")
        .bind(version)
        .fetch_one(&db.pool)
        .await
        .expect("read checksum")
}

async fn superseded_checksums_are_repaired(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let url = match &postgres {
        Some(database) => database.url.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("mosaic.db").display()
        ),
    };
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("first migration");
    let released = checksum(&db, 5).await;

    // Migrated while the edited file was current: the restored file is accepted.
    set_checksum(&db, 5, edited_0005_checksum(backend)).await;
    db.migrate().await.expect("the edited checksum is repaired");
    assert_eq!(checksum(&db, 5).await, released);

    // Any other change to an applied migration is still refused.
    set_checksum(&db, 5, vec![0; 48]).await;
    let refused = db
        .migrate()
        .await
        .expect_err("an unknown checksum must refuse");
    assert!(
        refused.to_string().contains('5'),
        "the error names the migration: {refused}"
    );
}

both_backends!(superseded_checksums_are_repaired);
