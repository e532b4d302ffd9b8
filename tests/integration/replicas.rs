//! Two real `mosaic serve` processes on one PostgreSQL database: a change made
//! through replica A is obeyed by replica B, by notification, and by the generation
//! sweep when the notification never came.

use std::time::{Duration, Instant};

use mosaic::auth::{Claims, JwtKeys, Role};
use mosaic_tests::{Replica, TestDatabase};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "replica-test-secret-of-32-bytes-or-more";

struct Pair {
    a: Replica,
    b: Replica,
    client: Client,
    keys: JwtKeys,
    db: TestDatabase,
}

impl Pair {
    async fn start(sweep_ms: &str) -> Self {
        let db = TestDatabase::create().await;
        let extra = ["--tenant-sweep-ms", sweep_ms];
        let a = Replica::start(crate::MOSAIC, &db.url, SECRET, &extra).await;
        let b = Replica::start(crate::MOSAIC, &db.url, SECRET, &extra).await;
        Self {
            a,
            b,
            client: Client::new(),
            keys: JwtKeys::new(SECRET.as_bytes(), &[]).expect("a strong secret"),
            db,
        }
    }

    fn admin_token(&self) -> String {
        self.keys
            .issue(&Claims::new(
                "platform-admin".into(),
                None,
                Role::SuperAdmin,
                600,
            ))
            .expect("sign")
    }

    async fn admin(&self, on: &Replica, method: Method, path: &str, body: Value) -> Value {
        let resp = self
            .client
            .request(method, on.url(path))
            .bearer_auth(self.admin_token())
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("json")
    }

    async fn status(&self, on: &Replica, tenant: &str, token: &str, path: &str) -> StatusCode {
        self.client
            .get(on.url(path))
            .header("x-tenant-id", tenant)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
    }

    /// How long until `on` answers `want`; panics after five seconds.
    async fn until(
        &self,
        on: &Replica,
        tenant: &str,
        token: &str,
        path: &str,
        want: u16,
    ) -> Duration {
        let started = Instant::now();
        while self.status(on, tenant, token, path).await != want {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{path} never answered {want}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        started.elapsed()
    }
}

/// Toggles, state changes and domains made through A reach B. Prints the toggle
/// propagation times (run with `--nocapture`; BENCHMARKS.md has the figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_replica_reach_the_other() {
    // A long sweep: only the notification can be this fast.
    let pair = Pair::start("60000").await;
    let created = pair
        .admin(
            &pair.a,
            Method::POST,
            "/api/admin/tenants",
            json!({"name": "Acme", "subdomain": "acme", "modules": ["attendance"]}),
        )
        .await;
    let tenant_id = created["id"].as_str().expect("id");
    let token = pair
        .keys
        .issue(&Claims::new(
            "u".into(),
            Some(tenant_id.into()),
            Role::Member,
            600,
        ))
        .expect("sign");
    // B serves attendance and so caches the tenant and builds a slot.
    assert_eq!(
        pair.status(&pair.b, "acme", &token, "/api/attendance/")
            .await,
        200
    );

    let mut samples = Vec::new();
    for round in 0..10 {
        let enabled = round % 2 == 1;
        pair.admin(
            &pair.a,
            Method::POST,
            "/api/admin/tenants/acme/modules/attendance",
            json!({"enabled": enabled}),
        )
        .await;
        let want = if enabled { 200 } else { 403 };
        samples.push(
            pair.until(&pair.b, "acme", &token, "/api/attendance/", want)
                .await,
        );
    }
    samples.sort();
    eprintln!(
        "toggle propagation A -> B over {} toggles: median {:?}, max {:?}",
        samples.len(),
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );

    pair.admin(
        &pair.a,
        Method::POST,
        "/api/admin/tenants/acme/suspend",
        json!({"reason": "replica test"}),
    )
    .await;
    pair.until(&pair.b, "acme", &token, "/api/employees/", 403)
        .await;
    pair.admin(
        &pair.a,
        Method::POST,
        "/api/admin/tenants/acme/reactivate",
        json!({}),
    )
    .await;
    pair.until(&pair.b, "acme", &token, "/api/employees/", 200)
        .await;

    pair.admin(
        &pair.a,
        Method::POST,
        "/api/admin/tenants/acme/domains",
        json!({"domain": "hr.acme.example"}),
    )
    .await;
    let started = Instant::now();
    loop {
        let status = pair
            .client
            .get(pair.b.url("/api/employees/"))
            .header("host", "hr.acme.example")
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .status();
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B never resolved the new domain"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A change whose notification never came (written straight to the database while
/// the replicas' listening connections were being cut) is picked up by the
/// generation sweep each replica makes when its listener reconnects. (While a
/// listener stays connected the sweep is a once-a-minute safety net: a healthy
/// connection does not lose notifications.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_notification_is_caught_by_the_sweep() {
    let pair = Pair::start("200").await;
    let created = pair
        .admin(
            &pair.a,
            Method::POST,
            "/api/admin/tenants",
            json!({"name": "Acme", "subdomain": "acme", "modules": ["attendance"]}),
        )
        .await;
    let tenant_id = created["id"].as_str().expect("id").to_owned();
    let token = pair
        .keys
        .issue(&Claims::new(
            "u".into(),
            Some(tenant_id.clone()),
            Role::Member,
            600,
        ))
        .expect("sign");
    assert_eq!(
        pair.status(&pair.b, "acme", &token, "/api/attendance/")
            .await,
        200
    );

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&pair.db.url).await.expect("connect");
    sqlx::query(
        "UPDATE tenant_modules SET enabled = 0 WHERE tenant_id = $1 AND module_key = 'attendance'",
    )
    .bind(&tenant_id)
    .execute(&pool)
    .await
    .expect("update");
    sqlx::query("UPDATE tenants SET generation = generation + 1 WHERE id = $1")
        .bind(&tenant_id)
        .execute(&pool)
        .await
        .expect("bump");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&pool)
    .await
    .expect("listeners cut");
    pool.close().await;
    for replica in [&pair.a, &pair.b] {
        pair.until(replica, "acme", &token, "/api/attendance/", 403)
            .await;
    }
}

/// A toggle through A answers once B has applied it: B's very first answer after
/// it already obeys the change, every time, even when B is slow to hear of it (its
/// listening connection is cut just before each toggle, so it learns of the change
/// only once it has listened again and swept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_answers_once_every_replica_obeys_it() {
    let pair = Pair::start("60000").await;
    let created = pair
        .admin(
            &pair.a,
            Method::POST,
            "/api/admin/tenants",
            json!({"name": "Acme", "subdomain": "acme", "modules": ["attendance"]}),
        )
        .await;
    let tenant_id = created["id"].as_str().expect("id");
    let token = pair
        .keys
        .issue(&Claims::new(
            "u".into(),
            Some(tenant_id.into()),
            Role::Member,
            600,
        ))
        .expect("sign");
    pair.until(&pair.b, "acme", &token, "/api/attendance/", 200)
        .await;
    // Both replicas serve and listen once a change is acknowledged by the other.
    let started = Instant::now();
    loop {
        let answer = pair
            .admin(
                &pair.a,
                Method::POST,
                "/api/admin/tenants/acme/modules/attendance",
                json!({"enabled": true}),
            )
            .await;
        if answer["replicas"]["acknowledged"]
            .as_array()
            .map_or(0, Vec::len)
            == 1
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&pair.db.url).await.expect("connect");
    let b_id: String = sqlx::query_scalar("SELECT id FROM replicas WHERE address = $1")
        .bind(pair.b.addr.to_string())
        .fetch_one(&pool)
        .await
        .expect("B is registered");
    let mut stale = Vec::new();
    for round in 0..20 {
        let enabled = round % 2 == 1;
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(format!("mosaic-{b_id}"))
        .execute(&pool)
        .await
        .expect("B's listener cut");
        let answer = pair
            .admin(
                &pair.a,
                Method::POST,
                "/api/admin/tenants/acme/modules/attendance",
                json!({"enabled": enabled}),
            )
            .await;
        assert_eq!(answer["replicas"]["pending"], json!([]), "{answer}");
        let want = if enabled { 200 } else { 403 };
        let got = pair
            .status(&pair.b, "acme", &token, "/api/attendance/")
            .await;
        if got != want {
            stale.push((round, got));
        }
    }
    assert!(
        stale.is_empty(),
        "B answered from before the change: {stale:?}"
    );
}
