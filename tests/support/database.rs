//! A PostgreSQL database per test.

/// The PostgreSQL server the tests create their databases on.
fn postgres_admin_url() -> String {
    std::env::var("MOSAIC_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A PostgreSQL database of its own, dropped when the test ends.
pub struct TestDatabase {
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        Self::create_with(None).await
    }

    /// A database whose default collation is the ICU `locale`, if one is given.
    pub async fn create_with(icu_locale: Option<&str>) -> Self {
        use sqlx::Executor;
        let admin = postgres_admin_url();
        let name = format!("mosaic_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("PostgreSQL is reachable (start it, or set MOSAIC_TEST_POSTGRES)");
        let collation = icu_locale.map_or(String::new(), |locale| {
            format!(
                " LOCALE_PROVIDER icu ICU_LOCALE '{locale}' LOCALE 'C.UTF-8' TEMPLATE template0"
            )
        });
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name}{collation}"
        )))
        .await
        .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("database url has a path");
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database even when the test panicked; `WITH (FORCE)` ends the
    /// host's pooled connections.
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Executor;
                let mut conn =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres_admin_url())
                        .await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .map(drop)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
