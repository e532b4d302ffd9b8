//! Crash safety: writes under load, the host killed with SIGKILL at a random
//! moment, restarted on the same database. Every acknowledged write is there, and
//! no write is half there: an employee without its `employee.created` event (or an
//! event without its employee), a tenant without its audit row.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mosaic::auth::{Claims, JwtKeys, Role};
use mosaic::store::Db;
use mosaic_tests::{Backend, Replica, TestDatabase, both_backends, mosaic_command};
use reqwest::Client;
use serde_json::{Value, json};

both_backends!(acknowledged_writes_survive_sigkill_and_nothing_is_half_written);

const SECRET: &str = "crash-test-secret-of-32-bytes-or-more!";
const WRITERS: usize = 4;
const ROUNDS: usize = 3;

fn token(tenant: Option<String>, role: Role) -> String {
    JwtKeys::new(SECRET.as_bytes(), &[])
        .expect("a strong secret")
        .issue(&Claims::new("crash-test".into(), tenant, role, 3600))
        .expect("sign")
}

fn serve(database_url: Option<&str>) -> tokio::process::Command {
    let mut command = mosaic_command(crate::MOSAIC);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.args(["--jwt-secret", SECRET]).args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--no-demo",
        "--tenant-rps",
        "0",
    ]);
    command
}

/// What one writer sent: each key with the id the host acknowledged, if it did.
type Sent = Vec<(String, Option<String>)>;

/// Creates employees until the host stops answering.
async fn hire_until_killed(client: Client, url: String, token: String, writer: String) -> Sent {
    let mut sent = Vec::new();
    for n in 0.. {
        let email = format!("{writer}-{n}@acme.example");
        let answer = client
            .post(format!("{url}/api/employees/"))
            .header("x-tenant-id", "acme")
            .bearer_auth(&token)
            .json(&json!({"name": format!("Worker {writer} {n}"), "email": email, "salary": 1000, "hired_on": "2025-03-01"}))
            .send()
            .await;
        match answer {
            Ok(resp) if resp.status() == 201 => {
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                sent.push((email, body["id"].as_str().map(str::to_owned)));
            }
            Ok(resp) => panic!("hiring {email}: {} {:?}", resp.status(), resp.text().await),
            Err(_) => {
                sent.push((email, None));
                break;
            }
        }
    }
    sent
}

/// Creates tenants (a row and its audit entry in one transaction) until the host
/// stops answering.
async fn create_tenants_until_killed(client: Client, url: String, round: usize) -> Sent {
    let mut sent = Vec::new();
    for n in 0.. {
        let subdomain = format!("t{round}x{n}");
        let answer = client
            .post(format!("{url}/api/admin/tenants"))
            .bearer_auth(token(None, Role::SuperAdmin))
            .json(&json!({"name": format!("Tenant {n}"), "subdomain": subdomain, "modules": []}))
            .send()
            .await;
        match answer {
            Ok(resp) if resp.status() == 201 => sent.push((subdomain.clone(), Some(subdomain))),
            Ok(resp) => panic!("creating {subdomain}: {}", resp.status()),
            Err(_) => {
                sent.push((subdomain, None));
                break;
            }
        }
    }
    sent
}

async fn acknowledged_writes_survive_sigkill_and_nothing_is_half_written(backend: Backend) {
    let postgres = match backend {
        Backend::Postgres => Some(TestDatabase::create().await),
        Backend::Sqlite => None,
    };
    let database_url = postgres.as_ref().map(|db| db.url.clone());
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut dir = tempfile::tempdir().expect("temp dir");
    let mut host = Replica::spawn(serve(database_url.as_deref()), dir).await;
    let created = client
        .post(host.url("/api/admin/tenants"))
        .bearer_auth(token(None, Role::SuperAdmin))
        .json(&json!({"name": "Acme", "subdomain": "acme", "modules": ["employees"], "plan": "enterprise"}))
        .send()
        .await
        .expect("create acme");
    assert_eq!(created.status(), 201);
    let tenant_id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let admin = token(Some(tenant_id.clone()), Role::TenantAdmin);

    let mut employees: Sent = Vec::new();
    let mut tenants: Sent = Vec::new();
    for round in 0..ROUNDS {
        let url = format!("http://{}", host.addr);
        let mut writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(hire_until_killed(
                    client.clone(),
                    url.clone(),
                    admin.clone(),
                    format!("r{round}w{w}"),
                ))
            })
            .collect();
        writers.push(tokio::spawn(create_tenants_until_killed(
            client.clone(),
            url.clone(),
            round,
        )));
        let under_load = Duration::from_millis(rand::random_range(300..1200));
        tokio::time::sleep(under_load).await;
        dir = host.kill().await;
        let mut sent: Vec<Sent> = Vec::new();
        for writer in writers {
            sent.push(writer.await.expect("writer"));
        }
        tenants.extend(sent.pop().expect("the tenant writer"));
        employees.extend(sent.into_iter().flatten());
        host = Replica::spawn(serve(database_url.as_deref()), dir).await;
    }
    let acknowledged = employees.iter().filter(|(_, id)| id.is_some()).count();
    assert!(
        acknowledged > ROUNDS * WRITERS,
        "writes ran under load: {acknowledged}"
    );

    // Every acknowledged employee answers, as it was written.
    for (email, id) in &employees {
        let Some(id) = id else { continue };
        let resp = client
            .get(host.url(&format!("/api/employees/{id}")))
            .header("x-tenant-id", "acme")
            .bearer_auth(&admin)
            .send()
            .await
            .expect("read back");
        assert_eq!(resp.status(), 200, "acknowledged {email} ({id}) is lost");
        assert_eq!(resp.json::<Value>().await.expect("json")["email"], *email);
    }
    for (subdomain, acked) in &tenants {
        let resp = client
            .get(host.url(&format!("/api/admin/tenants/{subdomain}")))
            .bearer_auth(token(None, Role::SuperAdmin))
            .send()
            .await
            .expect("read back");
        if acked.is_some() {
            assert_eq!(
                resp.status(),
                200,
                "acknowledged tenant {subdomain} is lost"
            );
        }
    }

    // Nothing is half there: straight from the database the host left.
    let main_url = database_url.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rw",
            host.data_dir().join("mosaic.db").display()
        )
    });
    let db = Db::connect(&main_url).await.expect("the database");
    let data = db.module_data(&tenant_id).await.expect("module data");
    let stored: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT id, CAST(data AS TEXT) FROM records WHERE tenant_id = $1 AND module = 'employees' AND collection = 'employees'",
    )
    .bind(&tenant_id)
    .fetch_all(&data.pool)
    .await
    .expect("records")
    .into_iter()
    .collect();
    let announced: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM event_outbox WHERE tenant_id = $1 AND kind = 'employee.created'",
    )
    .bind(&tenant_id)
    .fetch_all(&data.pool)
    .await
    .expect("events");
    let announced_set: HashSet<&String> = announced.iter().collect();
    assert_eq!(
        announced.len(),
        announced_set.len(),
        "one event per employee"
    );
    let stored_ids: HashSet<&String> = stored.keys().collect();
    assert_eq!(
        stored_ids, announced_set,
        "every employee has its event and back"
    );
    let attempted: HashSet<&str> = employees.iter().map(|(e, _)| e.as_str()).collect();
    let mut seen = HashSet::new();
    for data in stored.values() {
        let doc: Value = serde_json::from_str(data).expect("a whole document");
        let email = doc["email"].as_str().expect("an email");
        assert!(attempted.contains(email), "{email} was never sent");
        assert!(seen.insert(email.to_owned()), "{email} stored twice");
    }

    let audited: HashSet<String> =
        sqlx::query_scalar("SELECT target FROM audit_log WHERE action = 'tenant.create'")
            .fetch_all(&db.pool)
            .await
            .expect("audit")
            .into_iter()
            .collect();
    let existing: Vec<String> = sqlx::query_scalar("SELECT subdomain FROM tenants")
        .fetch_all(&db.pool)
        .await
        .expect("tenants");
    for subdomain in existing {
        assert!(
            audited.contains(&format!("tenant:{subdomain}")),
            "tenant {subdomain} has no audit row"
        );
    }
    eprintln!(
        "{backend:?}: {ROUNDS} kills; employees {acknowledged} acknowledged, {} sent, {} stored; \
         tenants {} acknowledged",
        employees.len(),
        stored.len(),
        tenants.iter().filter(|(_, acked)| acked.is_some()).count(),
    );
    let chain = db
        .verify_audit(&mosaic_tests::audit_key(), None, |_| {})
        .await
        .expect("verify");
    assert!(chain.problem.is_none(), "{:?}", chain.problem);
    drop(host);
}
