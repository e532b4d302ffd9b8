//! Accounts: sign-up, approval, login, refresh rotation, logout, lockout, platform
//! login.

use mosaic_tests::{Backend, Resp, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    sign_up_approve_log_in_and_call_a_module,
    sign_up_refusals,
    refresh_tokens_rotate_and_reuse_revokes_the_session,
    failed_logins_lock_the_account,
    a_burst_of_guesses_gets_no_more_than_the_limit,
    platform_users_are_kept_apart,
    profile_and_password_change,
    password_reset_by_mail,
    tenant_admins_manage_users_and_nobody_escalates
);

const PASSWORD: &str = "correct horse battery";

async fn register(app: &TestApp, subdomain: &str, email: &str, password: &str) -> Resp {
    app.req(Method::POST, "/api/auth/register")
        .json(&json!({
            "company_name": format!("{subdomain} GmbH"), "subdomain": subdomain,
            "full_name": "Founder", "email": email, "password": password
        }))
        .send()
        .await
}

async fn login(app: &TestApp, tenant: &str, email: &str, password: &str) -> Resp {
    app.req(Method::POST, "/api/auth/login")
        .header("x-tenant-id", tenant)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
}

async fn refresh(app: &TestApp, token: &Value) -> Resp {
    app.req(Method::POST, "/api/auth/refresh")
        .json(&json!({"refresh": token}))
        .send()
        .await
}

pub(crate) async fn approve(app: &TestApp, subdomain: &str) -> Resp {
    app.req(
        Method::POST,
        &format!("/api/admin/tenants/{subdomain}/approve"),
    )
    .bearer(&app.admin_token())
    .send()
    .await
}

async fn sign_up_approve_log_in_and_call_a_module(backend: Backend) {
    let app = TestApp::builder(backend).with_testbed().start().await;
    let created = register(&app, "initech", "Peter@Initech.example", PASSWORD)
        .await
        .expect(201);
    assert_eq!(created.body["tenant"]["status"], "pending");

    // Pending: nobody can use it yet.
    login(&app, "initech", "peter@initech.example", PASSWORD)
        .await
        .expect_error(403, "tenant_inactive");

    let approved = approve(&app, "initech").await.expect(200);
    assert_eq!(approved.body["status"], "active");
    approve(&app, "initech").await.expect_error(409, "conflict");

    let pair = login(&app, "initech", "PETER@initech.example", PASSWORD)
        .await
        .expect(200)
        .body;
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access"].as_str().expect("access");
    app.as_user(Method::GET, "/api/employees/", "initech", access)
        .send()
        .await
        .expect(200);
    // The founder is the tenant admin: employee writes are allowed.
    app.as_user(Method::POST, "/api/employees/", "initech", access)
        .json(&json!({"name": "Milton", "email": "milton@initech.example", "salary": 1, "hired_on": "2024-01-01"}))
        .send()
        .await
        .expect(201);
    let profile = app
        .as_user(Method::GET, "/api/auth/profile", "initech", access)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(profile["email"], "peter@initech.example");
    assert_eq!(profile["role"], "TENANT_ADMIN");
    assert_eq!(profile["full_name"], "Founder");

    // Modules see the logged-in caller through `identity`.
    app.req(Method::POST, "/api/admin/tenants/initech/modules/testbed")
        .bearer(&app.admin_token())
        .json(&json!({"enabled": true}))
        .send()
        .await
        .expect(200);
    let who = app
        .as_user(Method::GET, "/api/testbed/whoami", "initech", access)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(who["email"], "peter@initech.example");
    assert_eq!(who["name"], "Founder");
    assert_eq!(who["user"], profile["id"]);

    // Wrong password and unknown email read the same.
    let wrong = login(&app, "initech", "peter@initech.example", "wrong password!")
        .await
        .expect_error(401, "unauthorized");
    let unknown = login(&app, "initech", "nobody@initech.example", PASSWORD)
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(wrong.body["error"], unknown.body["error"]);
}

async fn sign_up_refusals(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("taken", &[])
        .start()
        .await;
    for (password, why) in [
        ("short", "must be at least 10 characters"),
        ("Password123", "is too common"),
        ("xxfounderxx2024", "must not contain your email address"),
    ] {
        let refused = register(&app, "fresh", "founder@fresh.example", password)
            .await
            .expect_error(422, "validation_failed");
        assert_eq!(refused.body["fields"]["password"], why, "{}", refused.text);
    }
    let bad = register(&app, "www", "not-an-email", PASSWORD)
        .await
        .expect_error(422, "validation_failed");
    assert!(bad.body["fields"]["subdomain"].is_string());
    assert!(bad.body["fields"]["email"].is_string());
    // Punycode: `xn--80ak6aa92e` shows as a look-alike of another name.
    let look_alike = register(&app, "xn--80ak6aa92e", "founder@fresh.example", PASSWORD)
        .await
        .expect_error(422, "validation_failed");
    assert!(
        look_alike.body["fields"]["subdomain"]
            .as_str()
            .is_some_and(|m| m.contains("xn--")),
        "{}",
        look_alike.text
    );
    register(&app, "taken", "x@taken.example", PASSWORD)
        .await
        .expect_error(409, "conflict");
    app.req(Method::POST, "/api/auth/register")
        .json(&json!({"company_name": "X", "subdomain": "x"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    // A refused sign-up leaves nothing behind.
    assert!(
        app.state
            .directory
            .by_subdomain("fresh")
            .await
            .expect("db")
            .is_none()
    );
    approve(&app, "taken").await.expect_error(409, "conflict");
    approve(&app, "nowhere")
        .await
        .expect_error(404, "not_found");
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_session(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);
    let first = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;

    let second = refresh(&app, &first["refresh"]).await.expect(200).body;
    assert_ne!(second["refresh"], first["refresh"]);
    let access = second["access"].as_str().expect("access");
    app.as_user(Method::GET, "/api/employees/", "acme", access)
        .send()
        .await
        .expect(200);

    // Replaying the used token revokes the whole session, the newest token included.
    refresh(&app, &first["refresh"])
        .await
        .expect_error(401, "unauthorized");
    refresh(&app, &second["refresh"])
        .await
        .expect_error(401, "unauthorized");

    // Logout ends a session; another session of the same user is untouched.
    let a = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    let b = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    app.req(Method::POST, "/api/auth/logout")
        .json(&json!({"refresh": a["refresh"]}))
        .send()
        .await
        .expect(204);
    refresh(&app, &a["refresh"])
        .await
        .expect_error(401, "unauthorized");
    // The session's access token ends with it, not 15 minutes later.
    let ended = app
        .as_user(
            Method::GET,
            "/api/employees/",
            "acme",
            a["access"].as_str().expect("access"),
        )
        .send()
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(ended.body["error"], "Session has ended");
    let b2 = refresh(&app, &b["refresh"]).await.expect(200).body;

    refresh(&app, &json!("not-a-token"))
        .await
        .expect_error(401, "unauthorized");
    app.req(Method::POST, "/api/auth/refresh")
        .json(&json!({"refresh": 5}))
        .send()
        .await
        .expect_error(422, "validation_failed");

    // A suspended tenant's sessions cannot be refreshed.
    app.req(Method::POST, "/api/admin/tenants/acme/suspend")
        .bearer(&app.admin_token())
        .json(&json!({"reason": "refresh test"}))
        .send()
        .await
        .expect(200);
    refresh(&app, &b2["refresh"])
        .await
        .expect_error(403, "tenant_inactive");
}

async fn failed_logins_lock_the_account(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);
    for _ in 0..4 {
        login(&app, "acme", "wile@acme.example", "wrong password!")
            .await
            .expect_error(401, "unauthorized");
    }
    let locked = login(&app, "acme", "wile@acme.example", "wrong password!")
        .await
        .expect_error(423, "account_locked");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((890..=900).contains(&retry), "{retry}");
    assert_eq!(locked.body["retry_after"], retry);
    // Even the right password waits for the lock.
    login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect_error(423, "account_locked");

    use sqlx::Row;
    let rows = sqlx::query("SELECT action, ip, user_agent, request_id FROM audit_log WHERE tenant_id = $1 AND action LIKE 'login.%' ORDER BY seq")
        .bind(app.tenant_id("acme").await)
        .fetch_all(&app.state.db.pool)
        .await
        .expect("audit");
    let actions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        actions,
        [
            "login.failure",
            "login.failure",
            "login.failure",
            "login.failure",
            "login.lockout",
            "login.locked"
        ]
    );
    assert!(
        rows.iter().all(|r| r.get::<Option<String>, _>(3).is_some()),
        "request ids recorded"
    );
    assert!(
        rows.iter()
            .all(|r| r.get::<Option<String>, _>(1).as_deref() == Some("127.0.0.1")),
        "the peer address is recorded"
    );
}

async fn platform_users_are_kept_apart(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let hash = mosaic::auth::password::hash(PASSWORD).expect("hash");
    let created = app
        .state
        .db
        .insert_account(
            mosaic::store::Realm::Platform,
            &mosaic::store::NewAccount {
                id: "platform-1",
                email: "ops@mosaic.example",
                full_name: "Ops",
                role: "SUPER_ADMIN",
                password_hash: &hash,
            },
        )
        .await
        .expect("db");
    assert!(created);
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);

    let pair = app
        .req(Method::POST, "/api/admin/auth/login")
        .json(&json!({"email": "ops@mosaic.example", "password": PASSWORD}))
        .send()
        .await
        .expect(200)
        .body;
    let admin = pair["access"].as_str().expect("access");
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(admin)
        .json(&json!({"name": "Globex", "subdomain": "globex"}))
        .send()
        .await
        .expect(201);
    // Platform refresh works without any tenant.
    refresh(&app, &pair["refresh"]).await.expect(200);

    // A tenant user is no platform user, and the other way round.
    app.req(Method::POST, "/api/admin/auth/login")
        .json(&json!({"email": "wile@acme.example", "password": PASSWORD}))
        .send()
        .await
        .expect_error(401, "unauthorized");
    login(&app, "acme", "ops@mosaic.example", PASSWORD)
        .await
        .expect_error(401, "unauthorized");
    // And a tenant admin's token cannot reach the admin API.
    let tenant_admin = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(tenant_admin["access"].as_str().expect("access"))
        .json(&json!({"name": "Nope", "subdomain": "nope"}))
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn profile_and_password_change(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);
    let a = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    let b = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    let access = a["access"].as_str().expect("access");
    let as_a = |method: Method, path: &str| app.as_user(method, path, "acme", access);

    let renamed = as_a(Method::PATCH, "/api/auth/profile")
        .json(&json!({"full_name": "  Wile E. Coyote "}))
        .send()
        .await
        .expect(200);
    assert_eq!(renamed.body["full_name"], "Wile E. Coyote");
    as_a(Method::PATCH, "/api/auth/profile")
        .json(&json!({"full_name": ""}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    as_a(Method::PATCH, "/api/auth/profile")
        .json(&json!({"full_name": "X", "role": "TENANT_ADMIN"}))
        .send()
        .await
        .expect_error(422, "validation_failed");

    let change = |current: &str, new: &str| {
        as_a(Method::POST, "/api/auth/change-password")
            .json(&json!({"current_password": current, "new_password": new}))
    };
    let wrong = change("not my password", "a brand new secret")
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        wrong.body["fields"]["current_password"],
        "is not your current password"
    );
    let weak = change(PASSWORD, "short")
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        weak.body["fields"]["new_password"],
        "must be at least 10 characters"
    );
    change(PASSWORD, "a brand new secret")
        .send()
        .await
        .expect(204);

    // Every other session ends; the one that changed the password goes on.
    refresh(&app, &b["refresh"])
        .await
        .expect_error(401, "unauthorized");
    refresh(&app, &a["refresh"]).await.expect(200);
    login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect_error(401, "unauthorized");
    login(&app, "acme", "wile@acme.example", "a brand new secret")
        .await
        .expect(200);

    // A development token has no account behind it.
    let dev = app.token("acme", mosaic::auth::Role::Member).await;
    app.as_user(Method::GET, "/api/auth/profile", "acme", &dev)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn password_reset_by_mail(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);
    let session = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    let ask = |email: &str| {
        app.req(Method::POST, "/api/auth/password-reset")
            .header("x-tenant-id", "acme")
            .json(&json!({"email": email}))
    };
    let confirm = |token: &str, password: &str| {
        app.req(Method::POST, "/api/auth/password-reset/confirm")
            .json(&json!({"token": token, "new_password": password}))
    };

    // Unknown and known emails get the same answer; only the known one gets mail.
    let unknown = ask("nobody@acme.example").send().await.expect(202);
    let known = ask("WILE@acme.example").send().await.expect(202);
    assert_eq!(unknown.body, known.body);
    let mail = app.state.db.recent_mail(10).await.expect("mailbox");
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to_email, "wile@acme.example");
    let token = mailed_token(&app, "wile@acme.example").await;

    // A refused new password does not use the token up.
    let weak = confirm(&token, "short")
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        weak.body["fields"]["new_password"],
        "must be at least 10 characters"
    );
    confirm(&token, "a completely new secret")
        .send()
        .await
        .expect(204);
    let reused = confirm(&token, "yet another new secret")
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        reused.body["fields"]["token"],
        "is invalid, used or expired"
    );

    login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect_error(401, "unauthorized");
    login(&app, "acme", "wile@acme.example", "a completely new secret")
        .await
        .expect(200);
    refresh(&app, &session["refresh"])
        .await
        .expect_error(401, "unauthorized");

    // An expired token is refused.
    use sha2::Digest;
    let user = app
        .state
        .db
        .account_by_email(
            mosaic::store::Realm::Tenant(&app.tenant_id("acme").await),
            "wile@acme.example",
        )
        .await
        .expect("db")
        .expect("account");
    let stale = "00".repeat(32);
    let origin = mosaic::store::Origin::default();
    app.state
        .db
        .send_token_mail(
            &mosaic::store::TokenMail {
                token_hash: hex::encode(sha2::Sha256::digest(stale.as_bytes())),
                purpose: mosaic::store::TokenPurpose::PasswordReset,
                tenant_id: user.tenant_id.as_deref(),
                user_id: &user.id,
                expires_at: 1,
                to: &user.email,
                subject: "An expired reset".into(),
                body: String::new(),
            },
            &mosaic::store::AuditEntry::new(
                &origin,
                "test",
                user.tenant_id.as_deref(),
                "password.reset_requested",
                "session",
            ),
        )
        .await
        .expect("db");
    confirm(&stale, "an expired attempt here")
        .send()
        .await
        .expect_error(422, "validation_failed");
    confirm("garbage", "an invented token here")
        .send()
        .await
        .expect_error(422, "validation_failed");
}

/// The single-use token in the newest mail to `to`.
pub(crate) async fn mailed_token(app: &TestApp, to: &str) -> String {
    let mail = app.state.db.recent_mail(20).await.expect("mailbox");
    let message = mail
        .iter()
        .find(|m| m.to_email == to)
        .expect("a mail to the address");
    message
        .body
        .split("\"token\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("token in the mail")
        .to_owned()
}

async fn tenant_admins_manage_users_and_nobody_escalates(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);
    let admin_pair = login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(200)
        .body;
    let admin = admin_pair["access"].as_str().expect("access").to_owned();
    let users = |token: &str, method: Method, path: &str| app.as_user(method, path, "acme", token);

    let invited = users(&admin, Method::POST, "/api/users/")
        .json(&json!({"email": "Road@acme.example", "full_name": "Road Runner", "role": "MANAGER"}))
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(invited["email"], "road@acme.example");
    assert_eq!(invited["role"], "MANAGER");
    let id = invited["id"].as_str().expect("id").to_owned();
    users(&admin, Method::POST, "/api/users/")
        .json(&json!({"email": "road@acme.example", "full_name": "Again", "role": "MEMBER"}))
        .send()
        .await
        .expect_error(409, "conflict");
    users(&admin, Method::POST, "/api/users/")
        .json(&json!({"email": "nope", "full_name": "X", "role": "ROOT"}))
        .send()
        .await
        .expect_error(422, "validation_failed");

    // Before accepting, the invited user cannot log in with anything.
    login(&app, "acme", "road@acme.example", "!invited")
        .await
        .expect_error(401, "unauthorized");
    let token = mailed_token(&app, "road@acme.example").await;
    let accept = |password: &str| {
        app.req(Method::POST, "/api/auth/invite/accept")
            .json(&json!({"token": token, "password": password}))
    };
    accept("short")
        .send()
        .await
        .expect_error(422, "validation_failed");
    accept("beep beep meep meep").send().await.expect(204);
    accept("beep beep meep meep")
        .send()
        .await
        .expect_error(422, "validation_failed");
    let manager = login(&app, "acme", "road@acme.example", "beep beep meep meep")
        .await
        .expect(200)
        .body;
    let manager_access = manager["access"].as_str().expect("access").to_owned();

    // Managers (and members) cannot manage users, themselves included.
    users(&manager_access, Method::GET, "/api/users/")
        .send()
        .await
        .expect_error(403, "forbidden");
    users(&manager_access, Method::PATCH, &format!("/api/users/{id}"))
        .json(&json!({"role": "TENANT_ADMIN"}))
        .send()
        .await
        .expect_error(403, "forbidden");
    let listed = users(&admin, Method::GET, "/api/users/")
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().expect("items").len(), 2);

    // Tenant admins cannot make anyone a platform admin, nor demote themselves.
    users(&admin, Method::PATCH, &format!("/api/users/{id}"))
        .json(&json!({"role": "SUPER_ADMIN"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let founder = users(&admin, Method::GET, "/api/auth/profile")
        .send()
        .await
        .expect(200)
        .body;
    let founder_id = founder["id"].as_str().expect("id");
    users(&admin, Method::PATCH, &format!("/api/users/{founder_id}"))
        .json(&json!({"active": false}))
        .send()
        .await
        .expect_error(409, "conflict");
    let demoted = users(&admin, Method::PATCH, &format!("/api/users/{id}"))
        .json(&json!({"role": "MEMBER"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(demoted["role"], "MEMBER");
    // The demotion holds at once, even for the access token issued as a manager.
    users(&manager_access, Method::POST, "/api/employees/")
        .json(
            &json!({"name": "X", "email": "x@acme.example", "salary": 1, "hired_on": "2024-01-01"}),
        )
        .send()
        .await
        .expect_error(403, "forbidden");
    users(&manager_access, Method::PATCH, &format!("/api/users/{id}"))
        .json(&json!({"role": "TENANT_ADMIN"}))
        .send()
        .await
        .expect_error(403, "forbidden");

    // Deactivation ends the user's sessions and tokens at once.
    users(&admin, Method::PATCH, &format!("/api/users/{id}"))
        .json(&json!({"active": false}))
        .send()
        .await
        .expect(200);
    users(&manager_access, Method::GET, "/api/employees/")
        .send()
        .await
        .expect_error(403, "forbidden");
    refresh(&app, &manager["refresh"])
        .await
        .expect_error(401, "unauthorized");
    login(&app, "acme", "road@acme.example", "beep beep meep meep")
        .await
        .expect_error(403, "forbidden");
    users(&admin, Method::PATCH, "/api/users/no-such-user")
        .json(&json!({"active": true}))
        .send()
        .await
        .expect_error(404, "not_found");

    use sqlx::Row;
    let changes = sqlx::query(
        "SELECT before, after FROM audit_log WHERE action = 'user.update' ORDER BY seq",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("audit");
    assert_eq!(changes.len(), 2);
    let before: Value = serde_json::from_str(&changes[0].get::<String, _>(0)).expect("json");
    let after: Value = serde_json::from_str(&changes[0].get::<String, _>(1)).expect("json");
    assert_eq!(
        (before["role"].as_str(), after["role"].as_str()),
        (Some("MANAGER"), Some("MEMBER"))
    );
}

async fn a_burst_of_guesses_gets_no_more_than_the_limit(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    register(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect(201);
    approve(&app, "acme").await.expect(200);
    let guesses: Vec<_> = (0..10)
        .map(|i| {
            tokio::spawn(
                app.req(Method::POST, "/api/auth/login")
                    .header("x-tenant-id", "acme")
                    .json(&json!({"email": "wile@acme.example", "password": format!("guess number {i}")}))
                    .send(),
            )
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        let resp = guess.await.expect("joined");
        match resp.status.as_u16() {
            401 => checked += 1,
            423 => {}
            other => panic!("unexpected {other}: {}", resp.text),
        }
    }
    assert!(
        checked <= 4,
        "{checked} guesses were checked; the limit is 5 in a row"
    );
    login(&app, "acme", "wile@acme.example", PASSWORD)
        .await
        .expect_error(423, "account_locked");
}

/// Answers of the auth routes (tokens, profiles) are never cached; no JSON answer
/// is sniffed into a page; production pins browsers to HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_the_security_headers() {
    let header = |resp: &Resp, name: &str| {
        resp.headers
            .get(name)
            .map(|v| v.to_str().expect("text").to_owned())
    };
    let app = TestApp::builder(Backend::Sqlite)
        .with_tenant("demo", &[])
        .start()
        .await;
    let refused = login(&app, "demo", "nobody@demo.example", PASSWORD)
        .await
        .expect(401);
    assert_eq!(
        header(&refused, "cache-control").as_deref(),
        Some("no-store")
    );
    assert_eq!(
        header(&refused, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let health = app.req(Method::GET, "/healthz").send().await.expect(200);
    assert_eq!(
        header(&health, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&health, "cache-control"), None);
    assert_eq!(
        header(&health, "strict-transport-security"),
        None,
        "not in development"
    );

    let production = TestApp::builder(Backend::Sqlite)
        .in_production()
        .start()
        .await;
    let health = production
        .req(Method::GET, "/healthz")
        .send()
        .await
        .expect(200);
    assert!(
        header(&health, "strict-transport-security").is_some_and(|v| v.starts_with("max-age=")),
        "{:?}",
        health.headers
    );
}
