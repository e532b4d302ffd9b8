//! Billing (issue #13, items 3 and 5–8): invoices and their PDF, payments with
//! proof verified once, expiry gating the modules until paid, plan changes
//! repriced, quotas and metering, dashboards, and plan request rates.

use std::time::{Duration, Instant};

use mosaic::auth::Role;
use mosaic::clock::Clock;
use mosaic::config::RateLimit;
use mosaic_tests::{Backend, Resp, TestApp, both_backends};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

both_backends!(
    an_invoice_is_paid_with_proof_and_approved_once,
    expiry_gates_modules_until_paid,
    proofs_are_judged_by_content_and_size,
    invoice_numbers_have_no_gaps_under_concurrency,
    plan_changes_reprice_and_upgrades_prorate,
    quotas_refuse_and_usage_rolls_back,
    dashboards_show_revenue_queue_and_overdue,
    a_plan_rate_caps_the_tenant,
    the_catalog_and_config_show_what_a_plan_includes,
);

/// Monday 2026-01-05, 12:00 UTC.
const START_MS: i64 = 1_767_614_400_000;
const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;
/// When a trial started at `START_MS` ends.
const TRIAL_END: i64 = START_MS + 14 * DAY_MS;
/// A month after `TRIAL_END` (2026-01-19 to 2026-02-19).
const FIRST_PERIOD_END: i64 = TRIAL_END + 31 * DAY_MS;

/// Enough of a PNG for its bytes to say so.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    bytes.extend_from_slice(&[0; 64]);
    bytes
}

async fn create(app: &TestApp, subdomain: &str, modules: &[&str]) {
    app.req(Method::POST, "/api/admin/tenants")
        .bearer(&app.admin_token())
        .json(&json!({"name": format!("{subdomain} Ltd"), "subdomain": subdomain, "modules": modules}))
        .send()
        .await
        .expect(201);
}

async fn get(app: &TestApp, tenant: &str, path: &str) -> Value {
    let token = app.token(tenant, Role::TenantAdmin).await;
    app.as_user(Method::GET, path, tenant, &token)
        .send()
        .await
        .expect(200)
        .body
}

async fn invoices(app: &TestApp, tenant: &str) -> Vec<Value> {
    get(app, tenant, "/api/billing/invoices").await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The tenant's open period invoice.
async fn open_invoice(app: &TestApp, tenant: &str) -> Value {
    invoices(app, tenant)
        .await
        .into_iter()
        .find(|i| i["state"] == "open" && i["kind"] == "period")
        .expect("an open period invoice")
}

fn payment_form(invoice: &str, proof: Vec<u8>, file_name: &str) -> Form {
    Form::new()
        .text("invoice", invoice.to_owned())
        .text("method", "bank_transfer")
        .text("reference", "TRX-42")
        .part("proof", Part::bytes(proof).file_name(file_name.to_owned()))
}

async fn submit(app: &TestApp, tenant: &str, form: Form) -> Resp {
    let token = app.token(tenant, Role::TenantAdmin).await;
    app.as_user(Method::POST, "/api/billing/payments", tenant, &token)
        .multipart(form)
        .send()
        .await
}

async fn review(app: &TestApp, payment: &str, action: &str, body: Option<Value>) -> Resp {
    let mut req = app
        .req(
            Method::POST,
            &format!("/api/admin/payments/{payment}/{action}"),
        )
        .bearer(&app.admin_token());
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await
}

/// Pays the tenant's open period invoice: submitted with a proof, approved.
async fn pay(app: &TestApp, tenant: &str) -> Value {
    let invoice = open_invoice(app, tenant).await;
    let id = invoice["id"].as_str().expect("id");
    let payment = submit(app, tenant, payment_form(id, png(), "receipt.png"))
        .await
        .expect(201)
        .body;
    review(app, payment["id"].as_str().expect("id"), "approve", None)
        .await
        .expect(200)
        .body
}

async fn wait_for_state(app: &TestApp, tenant: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let found = get(app, tenant, "/api/billing/subscription").await;
        if found["state"] == state {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{tenant} never became {state}: {found}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn an_invoice_is_paid_with_proof_and_approved_once(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend)
        .with_clock(&clock)
        .with_billing(|b| {
            b.tax_rate_bps = 2_000;
            b.platform_name = "Mosaic Cloud".into();
        })
        .start()
        .await;
    create(&app, "acme", &[]).await;

    // The trial's start issued the first period's invoice, due when it ends.
    let all = invoices(&app, "acme").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let invoice = &all[0];
    assert_eq!(invoice["state"], "open");
    assert_eq!(invoice["kind"], "period");
    assert_eq!(invoice["plan"], "starter");
    assert_eq!(invoice["period_start"], TRIAL_END);
    assert_eq!(invoice["period_end"], FIRST_PERIOD_END);
    assert_eq!(invoice["due_at"], TRIAL_END);
    assert_eq!(
        (
            &invoice["subtotal_minor"],
            &invoice["tax_minor"],
            &invoice["total_minor"]
        ),
        (&json!(2_900), &json!(580), &json!(3_480))
    );
    let id = invoice["id"].as_str().expect("id").to_owned();
    let label = invoice["label"].as_str().expect("label").to_owned();
    assert!(label.starts_with("INV-"), "{label}");

    // The PDF opens, and says what the invoice says.
    let token = app.token("acme", Role::TenantAdmin).await;
    let pdf = app
        .as_user(
            Method::GET,
            &format!("/api/billing/invoices/{id}/pdf"),
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    let document = lopdf::Document::load_mem(&pdf.bytes).expect("a PDF a reader opens");
    let text = document.extract_text(&[1]).expect("its text");
    for expected in [
        label.as_str(),
        "Mosaic Cloud",
        "acme Ltd",
        "2026-01-19",
        "USD 29.00",
        "USD 5.80",
        "USD 34.80",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }
    // Another tenant's invoice is not found.
    create(&app, "other", &[]).await;
    let other = app.token("other", Role::TenantAdmin).await;
    app.as_user(
        Method::GET,
        &format!("/api/billing/invoices/{id}"),
        "other",
        &other,
    )
    .send()
    .await
    .expect_error(404, "not_found");

    // A payment with its proof awaits verification; one at a time per invoice.
    let payment = submit(&app, "acme", payment_form(&id, png(), "../../receipt.png"))
        .await
        .expect(201)
        .body;
    assert_eq!(payment["status"], "pending_verification");
    assert_eq!(payment["amount_minor"], 3_480);
    assert_eq!(payment["proof"]["content_type"], "image/png");
    assert_eq!(payment["proof"]["name"], "receipt.png");
    submit(&app, "acme", payment_form(&id, png(), "again.png"))
        .await
        .expect_error(409, "conflict");
    let payment_id = payment["id"].as_str().expect("id").to_owned();
    let queue = app
        .req(
            Method::GET,
            "/api/admin/payments?status=pending_verification",
        )
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(queue["items"][0]["id"], payment_id.as_str());
    let proof = app
        .req(
            Method::GET,
            &format!("/api/admin/payments/{payment_id}/proof"),
        )
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200);
    assert_eq!(proof.headers["content-type"], "image/png");
    assert_eq!(proof.bytes, png());

    // Two admins approve at the same moment: one wins.
    let (first, second) = tokio::join!(
        review(&app, &payment_id, "approve", None),
        review(&app, &payment_id, "approve", None)
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", first.text, second.text);
    let approved = if first.status == 200 { first } else { second };
    assert_eq!(approved.body["payment"]["status"], "completed");
    assert_eq!(approved.body["invoice"]["state"], "paid");

    // Paid during the trial: active from the trial's end, for the invoice's period.
    let subscription = get(&app, "acme", "/api/billing/subscription").await;
    assert_eq!(subscription["state"], "active", "{subscription}");
    assert_eq!(subscription["period_start"], TRIAL_END);
    assert_eq!(subscription["period_end"], FIRST_PERIOD_END);
    assert_eq!(open_invoice_count(&app, "acme").await, 0);

    // Every step is in the audit chain, once.
    let audit = app
        .req(Method::GET, "/api/admin/audit?limit=100")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|row| row["action"].as_str())
        .filter(|a| a.starts_with("payment.") || *a == "subscription.activate")
        .collect();
    let mut sorted = actions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["payment.approve", "payment.submit", "subscription.activate"]
    );
}

async fn open_invoice_count(app: &TestApp, tenant: &str) -> usize {
    invoices(app, tenant)
        .await
        .iter()
        .filter(|i| i["state"] == "open")
        .count()
}

async fn expiry_gates_modules_until_paid(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend).with_clock(&clock).start().await;
    create(&app, "acme", &[]).await;
    let token = app.token("acme", Role::TenantAdmin).await;
    let employees = || async {
        app.as_user(Method::GET, "/api/employees/", "acme", &token)
            .send()
            .await
    };
    employees().await.expect(200);
    // Renewing during the trial answers the open invoice, and makes none.
    let renewed = app
        .as_user(
            Method::POST,
            "/api/billing/subscription/renew",
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(renewed["invoice"]["period_start"], TRIAL_END);
    assert_eq!(invoices(&app, "acme").await.len(), 1);

    clock.advance(DAY * 15);
    wait_for_state(&app, "acme", "expired").await;
    let refused = employees().await.expect_error(402, "subscription_expired");
    assert_eq!(
        refused.body["renew"]["renew"],
        "POST /api/billing/subscription/renew"
    );
    // Billing keeps working, so the tenant can pay.
    assert_eq!(open_invoice_count(&app, "acme").await, 1);
    let approved = pay(&app, "acme").await;
    // Paid after expiry: a whole period from the payment.
    let now = START_MS + 15 * DAY_MS;
    assert_eq!(approved["subscription"]["period_start"], now);
    assert_eq!(approved["subscription"]["period_end"], now + 31 * DAY_MS);
    // At once.
    employees().await.expect(200);

    // Cancelled: still served to the end of the paid period, and renewable.
    let cancelled = app
        .as_user(
            Method::POST,
            "/api/billing/subscription/cancel",
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(cancelled["state"], "cancelled");
    employees().await.expect(200);
    app.as_user(
        Method::POST,
        "/api/billing/subscription/cancel",
        "acme",
        &token,
    )
    .send()
    .await
    .expect_error(409, "conflict");
    let renewed = app
        .as_user(
            Method::POST,
            "/api/billing/subscription/renew",
            "acme",
            &token,
        )
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(renewed["state"], "active");
    assert!(renewed["invoice"].is_null());

    // The paid period ends: past due, with the next period's invoice.
    clock.advance(DAY * 32);
    wait_for_state(&app, "acme", "past_due").await;
    let next = open_invoice(&app, "acme").await;
    assert_eq!(next["period_start"], now + 31 * DAY_MS);
    employees().await.expect(200);
}

async fn proofs_are_judged_by_content_and_size(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    create(&app, "acme", &[]).await;
    let id = open_invoice(&app, "acme").await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // A text file named as an image, and an SVG, are not images.
    for (bytes, name) in [
        (b"just some text".to_vec(), "receipt.png"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            "receipt.svg",
        ),
    ] {
        submit(&app, "acme", payment_form(&id, bytes, name))
            .await
            .expect_error(415, "unsupported_media_type");
    }
    // Over 5 MiB.
    let mut big = png();
    big.resize(5 * 1024 * 1024 + 1, 0);
    submit(&app, "acme", payment_form(&id, big, "big.png"))
        .await
        .expect_error(413, "payload_too_large");
    // Not a form.
    let token = app.token("acme", Role::TenantAdmin).await;
    app.as_user(Method::POST, "/api/billing/payments", "acme", &token)
        .json(&json!({"invoice": id}))
        .send()
        .await
        .expect_error(415, "unsupported_media_type");
    // Fields missing or wrong, all at once.
    let invalid = submit(
        &app,
        "acme",
        Form::new()
            .text("method", "barter")
            .text("reference", "a\nb"),
    )
    .await
    .expect_error(422, "validation_failed");
    for field in ["invoice", "method", "reference", "proof"] {
        assert!(
            invalid.body["fields"][field].is_string(),
            "{}",
            invalid.text
        );
    }
    // Unknown invoices, another tenant's invoice, and members.
    submit(
        &app,
        "acme",
        payment_form("no-such-invoice", png(), "r.png"),
    )
    .await
    .expect_error(404, "not_found");
    create(&app, "other", &[]).await;
    submit(&app, "other", payment_form(&id, png(), "r.png"))
        .await
        .expect_error(404, "not_found");
    let member = app.token("acme", Role::Member).await;
    app.as_user(Method::POST, "/api/billing/payments", "acme", &member)
        .multipart(payment_form(&id, png(), "r.png"))
        .send()
        .await
        .expect_error(403, "forbidden");
    // Nothing above was stored.
    assert!(
        get(&app, "acme", "/api/billing/payments").await["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );

    // Rejected with a reason the tenant sees; then paid again.
    let payment = submit(&app, "acme", payment_form(&id, png(), "r.png"))
        .await
        .expect(201)
        .body;
    let payment_id = payment["id"].as_str().expect("id");
    review(&app, payment_id, "reject", Some(json!({"reason": " "})))
        .await
        .expect_error(422, "validation_failed");
    review(
        &app,
        payment_id,
        "reject",
        Some(json!({"reason": "The transfer has not arrived"})),
    )
    .await
    .expect(200);
    review(&app, payment_id, "approve", None)
        .await
        .expect_error(409, "conflict");
    review(&app, "no-such-payment", "approve", None)
        .await
        .expect_error(404, "not_found");
    let seen = get(&app, "acme", "/api/billing/payments").await;
    assert_eq!(seen["items"][0]["status"], "failed");
    assert_eq!(seen["items"][0]["reason"], "The transfer has not arrived");
    submit(&app, "acme", payment_form(&id, png(), "r.png"))
        .await
        .expect(201);
}

async fn invoice_numbers_have_no_gaps_under_concurrency(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    // Six tenants at once, and two that fail (their subdomain is taken) among them.
    let subdomains: Vec<String> = (0..6)
        .map(|i| format!("t{i}"))
        .chain(["t0".into(), "t1".into()])
        .collect();
    let created = futures::future::join_all(subdomains.iter().map(|subdomain| {
        app.req(Method::POST, "/api/admin/tenants")
            .bearer(&app.admin_token())
            .json(&json!({"name": subdomain, "subdomain": subdomain}))
            .send()
    }))
    .await;
    let mut statuses: Vec<u16> = created.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 201, 201, 201, 201, 409, 409]);
    // One demo request converted four times at once: the losers can fail after
    // their invoice was numbered (the request turns out converted), and give the
    // number back with the rest of their transaction.
    let request = app
        .req(Method::POST, "/api/demo-requests")
        .json(&json!({"company": "Wayne", "contact_name": "Lucius Fox", "email": "lucius@wayne.example", "message": "Hello"}))
        .send()
        .await
        .expect(201)
        .body;
    let id = request["id"].as_str().expect("id");
    let converted = futures::future::join_all((0..4).map(|i| {
        app.req(
            Method::POST,
            &format!("/api/admin/demo-requests/{id}/convert"),
        )
        .bearer(&app.admin_token())
        .json(&json!({"subdomain": format!("wayne{i}")}))
        .send()
    }))
    .await;
    let mut statuses: Vec<u16> = converted.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409]);
    let numbers: Vec<i64> = sqlx::query_scalar("SELECT number FROM invoices ORDER BY number")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("numbers");
    assert_eq!(numbers, (1..=7).collect::<Vec<i64>>());
}

async fn plan_changes_reprice_and_upgrades_prorate(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend).with_clock(&clock).start().await;
    create(&app, "acme", &[]).await;
    let app = &app;
    let change = |plan: &'static str| async move {
        app.req(Method::POST, "/api/admin/tenants/acme/plan")
            .bearer(&app.admin_token())
            .json(&json!({ "plan": plan }))
            .send()
            .await
            .expect(200)
            .body
    };
    // During the trial, the open invoice is replaced at the new price, and a payment
    // of the old one awaiting verification fails with the reason.
    let first = open_invoice(app, "acme").await;
    submit(
        app,
        "acme",
        payment_form(first["id"].as_str().expect("id"), png(), "r.png"),
    )
    .await
    .expect(201);
    let changed = change("business").await;
    assert_eq!(changed["invoices"][0]["total_minor"], 9_900);
    let all = invoices(app, "acme").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["state"], "void");
    assert_eq!(all[0]["state"], "open");
    assert_eq!(all[0]["period_start"], TRIAL_END);
    let payments = get(app, "acme", "/api/billing/payments").await;
    assert_eq!(payments["items"][0]["status"], "failed", "{payments}");
    assert!(
        payments["items"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("voided")),
        "{payments}"
    );
    pay(app, "acme").await;

    // Halfway through the paid period, an upgrade charges half the difference.
    let halfway = TRIAL_END + (FIRST_PERIOD_END - TRIAL_END) / 2;
    clock.advance(Duration::from_millis(
        u64::try_from(halfway - START_MS).expect("ahead"),
    ));
    let upgrade = |changed: &Value| {
        let difference = changed["invoices"][0].clone();
        assert_eq!(difference["kind"], "plan_change", "{changed}");
        assert_eq!(difference["lines"][0]["amount_minor"], -4_950);
        assert_eq!(difference["lines"][1]["amount_minor"], 24_950);
        assert_eq!(difference["total_minor"], 20_000);
        assert_eq!(difference["period_end"], FIRST_PERIOD_END);
    };
    upgrade(&change("enterprise").await);

    // A downgrade takes effect at once, owes nothing, and voids the unpaid
    // difference; upgrading again is charged against the plan paid for (Business).
    let changed = change("starter").await;
    assert_eq!(changed["invoices"], json!([]));
    let all = invoices(app, "acme").await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["state"], "void", "the unpaid difference");
    upgrade(&change("enterprise").await);
    assert_eq!(open_invoice_count(app, "acme").await, 1);
    assert_eq!(
        get(app, "acme", "/api/billing/subscription").await["state"],
        "active"
    );
}

fn employee(i: u32) -> Value {
    json!({
        "name": format!("Employee {i}"), "email": format!("e{i}@acme.example"),
        "department": "Ops", "position": "Engineer", "salary": 400_000, "hired_on": "2024-01-15"
    })
}

async fn quotas_refuse_and_usage_rolls_back(backend: Backend) {
    let app = TestApp::builder(backend).with_guest("clerk").start().await;
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&app.admin_token())
        .json(&json!({
            "key": "tiny", "name": "Tiny", "price_minor": 500, "currency": "USD", "period": "month",
            "limits": {"max_employees": 2, "max_users": 1, "max_storage_bytes": 1000}
        }))
        .send()
        .await
        .expect(201);
    create(&app, "acme", &["clerk"]).await;
    app.req(Method::POST, "/api/admin/tenants/acme/plan")
        .bearer(&app.admin_token())
        .json(&json!({"plan": "tiny"}))
        .send()
        .await
        .expect(200);
    let token = app.token("acme", Role::TenantAdmin).await;
    let post = |path: &str, body: Value| {
        app.as_user(Method::POST, path, "acme", &token)
            .json(&body)
            .send()
    };

    // Employees: the plan's limit, counted by the host.
    let first = post("/api/employees/", employee(1)).await.expect(201).body;
    post("/api/employees/", employee(2)).await.expect(201);
    let refused = post("/api/employees/", employee(3))
        .await
        .expect_error(402, "quota_exceeded");
    assert_eq!(refused.body["limit"], "max_employees", "{}", refused.text);
    assert_eq!(refused.body["max"], 2);
    assert_eq!(refused.body["used"], 2);
    assert_eq!(refused.body["plan"], "tiny");
    assert_eq!(refused.body["upgrade"], true);
    // A place freed is a place taken.
    let id = first["id"].as_str().expect("id");
    app.as_user(
        Method::DELETE,
        &format!("/api/employees/{id}"),
        "acme",
        &token,
    )
    .send()
    .await
    .expect(204);
    post("/api/employees/", employee(3)).await.expect(201);

    // Storage, checked by a module before it writes.
    app.as_user(
        Method::GET,
        "/api/clerk/quota?metric=storage_bytes&amount=1001",
        "acme",
        &token,
    )
    .send()
    .await
    .expect_error(402, "quota_exceeded");

    // Metering: what a failed request recorded is gone with it.
    post("/api/clerk/usage?metric=sms.sent&amount=5", json!({}))
        .await
        .expect(204);
    post(
        "/api/clerk/usage/then-fail?metric=sms.sent&amount=7",
        json!({}),
    )
    .await
    .expect(500);
    // A measured metric cannot be recorded.
    post("/api/clerk/usage?metric=employees&amount=1", json!({}))
        .await
        .expect(500);
    let dashboard = get(&app, "acme", "/api/billing/dashboard").await;
    assert_eq!(
        dashboard["metered"],
        json!([{"metric": "sms.sent", "module": "clerk", "amount": 5}]),
        "{dashboard}"
    );
    assert_eq!(
        dashboard["usage"]["employees"],
        json!({"used": 2, "max": 2})
    );

    // Users: the plan's limit at invitation.
    let invite = |email: &str| json!({"email": email, "full_name": "New Person", "role": "MEMBER"});
    post("/api/users", invite("one@acme.example"))
        .await
        .expect(201);
    let refused = post("/api/users", invite("two@acme.example"))
        .await
        .expect_error(402, "quota_exceeded");
    assert_eq!(refused.body["limit"], "max_users");
    let dashboard = get(&app, "acme", "/api/billing/dashboard").await;
    assert_eq!(dashboard["usage"]["users"], json!({"used": 1, "max": 1}));
}

async fn dashboards_show_revenue_queue_and_overdue(backend: Backend) {
    let clock = Clock::manual(START_MS);
    let app = TestApp::builder(backend).with_clock(&clock).start().await;
    create(&app, "paid", &[]).await;
    create(&app, "waiting", &[]).await;
    pay(&app, "paid").await;
    let id = open_invoice(&app, "waiting").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    submit(&app, "waiting", payment_form(&id, png(), "r.png"))
        .await
        .expect(201);
    clock.advance(DAY * 15);
    wait_for_state(&app, "waiting", "expired").await;

    let platform = app
        .req(Method::GET, "/api/admin/billing/dashboard")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(
        platform["mrr"],
        json!([{"currency": "USD", "monthly_minor": 2_900, "subscriptions": 1}]),
        "{platform}"
    );
    assert_eq!(
        platform["subscriptions"],
        json!({"active": 1, "expired": 1})
    );
    assert_eq!(platform["payments_awaiting_verification"], 1);
    let overdue = platform["overdue"].as_array().expect("overdue");
    assert_eq!(overdue.len(), 1, "{platform}");
    assert_eq!(overdue[0]["subdomain"], "waiting");
    assert_eq!(overdue[0]["total_minor"], 2_900);

    let tenant = get(&app, "waiting", "/api/billing/dashboard").await;
    assert_eq!(tenant["state"], "expired");
    assert_eq!(tenant["next_invoice"]["id"], id.as_str());
    assert_eq!(tenant["payments_awaiting_verification"], 1);
    assert_eq!(tenant["usage"]["employees"], json!({"used": 0, "max": 25}));
    assert_eq!(tenant["max_requests_per_second"], 20);
}

async fn a_plan_rate_caps_the_tenant(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant_rate_limit(Some(RateLimit {
            per_second: 50,
            burst: 3,
        }))
        .start()
        .await;
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&app.admin_token())
        .json(&json!({
            "key": "slow", "name": "Slow", "price_minor": 100, "currency": "USD", "period": "month",
            "limits": {"max_requests_per_second": 1}
        }))
        .send()
        .await
        .expect(201);
    for (tenant, plan) in [("slow", "slow"), ("fast", "enterprise")] {
        create(&app, tenant, &[]).await;
        app.req(Method::POST, &format!("/api/admin/tenants/{tenant}/plan"))
            .bearer(&app.admin_token())
            .json(&json!({ "plan": plan }))
            .send()
            .await
            .expect(200);
    }
    let app = &app;
    let hit = |tenant: &'static str| async move {
        let token = app.token(tenant, Role::TenantAdmin).await;
        app.as_user(Method::GET, "/api/billing/subscription", tenant, &token)
            .send()
            .await
            .status
            .as_u16()
    };
    // Each tenant: its burst, then 100 ms (which refill 5 requests at the host's
    // rate and none at the plan's), then one more.
    for (tenant, after) in [("slow", 429), ("fast", 200)] {
        for _ in 0..3 {
            assert_eq!(hit(tenant).await, 200, "{tenant}: within the burst");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(hit(tenant).await, after, "{tenant}");
    }
}

async fn the_catalog_and_config_show_what_a_plan_includes(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    app.req(Method::POST, "/api/admin/plans")
        .bearer(&app.admin_token())
        .json(&json!({
            "key": "bare", "name": "Bare", "price_minor": 100, "currency": "USD", "period": "month"
        }))
        .send()
        .await
        .expect(201);
    create(&app, "acme", &[]).await;
    let app = &app;
    let config = || async move {
        app.req(Method::GET, "/api/tenants/by-subdomain/acme/config/")
            .send()
            .await
            .expect(200)
            .body
    };
    assert_eq!(config().await["in_plan"]["attendance"], true);
    app.req(Method::POST, "/api/admin/tenants/acme/plan")
        .bearer(&app.admin_token())
        .json(&json!({"plan": "bare"}))
        .send()
        .await
        .expect(200);
    let after = config().await;
    assert_eq!(after["plan"], "bare");
    assert_eq!(
        after["in_plan"],
        json!({"employees": true, "attendance": false, "wallet": false, "tasks": false, "complaints": false, "shifts": false, "reports": false, "notifications": true})
    );
    let catalog = app
        .req(Method::GET, "/api/modules/")
        .send()
        .await
        .expect(200)
        .body;
    let plans_of = |key: &str| {
        catalog["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|m| m["key"] == key)
            .map(|m| m["plans"].clone())
            .expect("listed")
    };
    assert_eq!(
        plans_of("attendance"),
        json!(["starter", "business", "enterprise"])
    );
    assert_eq!(plans_of("employees"), Value::Null);
}
