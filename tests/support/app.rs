//! A running host and what tests ask of it: tokens, tenants, requests, its data.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mosaic::AppState;
use mosaic::auth::{Claims, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Req, TestDatabase};

/// A running host.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub(crate) _stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) _postgres: Option<TestDatabase>,
    pub(crate) _dir: tempfile::TempDir,
}

impl TestApp {
    /// The database the host runs on, for another process to start on.
    pub fn database_url(&self) -> String {
        self.state.config.database_url()
    }

    /// Where the host keeps its files (`tenants/<subdomain>/...`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Sends `GET <path>` byte for byte, as no URL library would (they resolve `..`
    /// and `%2e%2e` before sending); returns the status and body.
    pub async fn raw_get(&self, path: &str) -> (u16, String) {
        self.raw_request(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n"))
            .await
    }

    /// Sends a request head as it is written (its request line and headers, each
    /// line ending in CRLF), for what clients do not send: absolute-form targets,
    /// repeated headers. Returns the status and body.
    pub async fn raw_request(&self, head: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let request = format!("{head}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn tenant_id(&self, subdomain: &str) -> String {
        self.state
            .directory
            .by_subdomain(subdomain)
            .await
            .expect("db")
            .expect("tenant exists")
            .tenant
            .id
            .clone()
    }

    /// The database holding `tenant`'s module data (documents, keys, event outbox):
    /// a file of its own on SQLite, the shared one on PostgreSQL.
    pub async fn module_data(&self, tenant: &str) -> mosaic::store::Db {
        let tenant_id = self.tenant_id(tenant).await;
        self.state
            .db
            .module_data(&tenant_id)
            .await
            .expect("module data database")
    }

    /// The definitions of the indexes built for manifests' declared indexes in
    /// `tenant`'s module data (valid ones only), once there are `expected` of them
    /// (built in the background; waits up to 10 s).
    pub async fn declared_indexes(&self, tenant: &str, expected: usize) -> Vec<String> {
        let data = self.module_data(tenant).await;
        let sql = match data.dialect {
            mosaic::store::Dialect::Sqlite => {
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'records_ix_%'"
            }
            mosaic::store::Dialect::Postgres => {
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index \
                 WHERE indisvalid AND indexrelid::regclass::text LIKE 'records_ix_%'"
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let built: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&data.pool)
                .await
                .expect("the catalog");
            if built.len() >= expected || Instant::now() > deadline {
                return built;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to 10 s) until `others` replicas besides this one acknowledge its
    /// tenant changes: they serve and listen, and so does this one.
    pub async fn until_replicas_acknowledge(&self, tenant: &str, others: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // A change that changes nothing, for its acknowledgements.
            let answer = self
                .req(
                    Method::POST,
                    &format!("/api/admin/tenants/{tenant}/modules/employees"),
                )
                .bearer(&self.admin_token())
                .json(&json!({"enabled": true}))
                .send()
                .await
                .expect(200);
            let acknowledged = answer.body["replicas"]["acknowledged"]
                .as_array()
                .map_or(0, Vec::len);
            if acknowledged == others {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{others} replicas never acknowledged: {}",
                answer.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 5 s) until an instance of `module` runs a request of `tenant`.
    pub async fn wait_until_busy(&self, tenant: &str, module: &str) {
        let tenant_id = self.tenant_id(tenant).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let busy =
                self.state.runtime.slots().iter().any(|s| {
                    s.tenant_id == tenant_id && s.module == module && s.busy_instances > 0
                });
            if busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {module} instance of {tenant} became busy");
    }

    /// A token for a user of `subdomain` with `role`.
    pub async fn token(&self, subdomain: &str, role: Role) -> String {
        let tenant = self.tenant_id(subdomain).await;
        self.sign(&Claims::new(
            format!("user-{subdomain}"),
            Some(tenant),
            role,
            600,
        ))
    }

    /// A token of a user of `subdomain` with `role` and `email`: modules know their
    /// callers' employee records by email.
    pub async fn token_with_email(&self, subdomain: &str, role: Role, email: &str) -> String {
        let tenant = self.tenant_id(subdomain).await;
        let mut claims = Claims::new(format!("user-{email}"), Some(tenant), role, 600);
        claims.email = Some(email.to_owned());
        self.sign(&claims)
    }

    /// Hires an active employee of `subdomain` through the employees module (as a
    /// tenant admin); their id.
    pub async fn hire(&self, subdomain: &str, name: &str, email: &str, salary: i64) -> String {
        let admin = self.token(subdomain, Role::TenantAdmin).await;
        let body =
            json!({"name": name, "email": email, "salary": salary, "hired_on": "2025-03-01"});
        self.as_user(Method::POST, "/api/employees/", subdomain, &admin)
            .json(&body)
            .send()
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .expect("employee id")
            .to_owned()
    }

    /// Replaces a module's settings for a tenant, as a platform admin.
    pub async fn set_module_settings(&self, subdomain: &str, module: &str, settings: &Value) {
        self.req(
            Method::PUT,
            &format!("/api/admin/tenants/{subdomain}/modules/{module}/settings"),
        )
        .bearer(&self.admin_token())
        .json(settings)
        .send()
        .await
        .expect(200);
    }

    pub fn admin_token(&self) -> String {
        self.sign(&Claims::new(
            "platform-admin".into(),
            None,
            Role::SuperAdmin,
            600,
        ))
    }

    /// The value of one series (`name{labels}` as exposed) in `/metrics`, if the
    /// host has exposed it yet.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let exposition = self
            .req(Method::GET, "/metrics")
            .bearer(&self.admin_token())
            .send()
            .await
            .expect(200)
            .text;
        let prefix = format!("{series} ");
        exposition.lines().find_map(|line| {
            let value = line.strip_prefix(&prefix)?.trim();
            Some(value.parse().expect("a sample value"))
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.state.keys.issue(claims).expect("sign")
    }

    /// A request to the host.
    pub fn req(&self, method: Method, path: &str) -> Req {
        Req {
            builder: self.client.request(method, self.url(path)),
        }
    }

    /// A request of a tenant's user: `X-Tenant-ID` and a bearer token.
    pub fn as_user(&self, method: Method, path: &str, tenant: &str, token: &str) -> Req {
        self.req(method, path)
            .header("x-tenant-id", tenant)
            .bearer(token)
    }
}
