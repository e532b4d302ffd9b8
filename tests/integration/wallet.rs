//! The wallet module (issue #11): accounts opened with employees, immutable
//! transactions whose sum is the balance under concurrency, idempotent postings
//! and payouts, roles, and the gate.

use std::time::{Duration, Instant};

use futures::future::join_all;
use mosaic::auth::Role;
use mosaic::clock::Clock;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    money_moves_by_immutable_transactions,
    postings_are_checked,
    parallel_postings_keep_the_balance_exact,
    members_see_their_own_account_only,
    payouts_pay_each_period_once,
    the_payout_schedule_pays_the_month_that_ended,
    wallet_is_gated_and_isolated,
);

fn wallet_app(backend: Backend) -> mosaic_tests::TestAppBuilder {
    TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["wallet"])
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> mosaic_tests::Resp {
    app.as_user(Method::POST, &format!("/api/wallet{path}"), "demo", token)
        .json(&body)
        .send()
        .await
}

async fn get(app: &TestApp, token: &str, path: &str) -> mosaic_tests::Resp {
    app.as_user(Method::GET, &format!("/api/wallet{path}"), "demo", token)
        .send()
        .await
}

/// Waits for the account the `employee.created` event opens.
async fn wait_for_account(app: &TestApp, token: &str, employee: &str) -> Value {
    let started = Instant::now();
    loop {
        let account = get(app, token, &format!("/accounts/{employee}"))
            .await
            .expect(200)
            .body;
        if account["version"].as_u64() > Some(0) {
            return account;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no account opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every transaction of the account, following the cursor.
async fn history(app: &TestApp, token: &str, employee: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            app,
            token,
            &format!("/accounts/{employee}/transactions?limit=100{query}{cursor}"),
        )
        .await
        .expect(200)
        .body;
        all.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

fn signed(txn: &Value) -> i64 {
    let amount = txn["amount"].as_i64().expect("amount");
    if txn["type"] == "credit" {
        amount
    } else {
        -amount
    }
}

async fn money_moves_by_immutable_transactions(backend: Backend) {
    let app = wallet_app(backend).start().await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    let opened = wait_for_account(&app, &admin, &ada).await;
    assert_eq!(opened["balance"], 0);
    assert_eq!(opened["currency"], "USD");

    let credit = post(
        &app,
        &admin,
        &format!("/accounts/{ada}/credit"),
        json!({"amount": 1000, "reason": "Bonus", "idempotency_key": "bonus-1"}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(credit["type"], "credit");
    assert_eq!(credit["balance_after"], 1000);
    assert_eq!(credit["actor"], "user-demo");

    // The same key again is the same transaction, not a second one; with another
    // amount it is a conflict.
    let again = post(
        &app,
        &admin,
        &format!("/accounts/{ada}/credit"),
        json!({"amount": 1000, "reason": "Bonus", "idempotency_key": "bonus-1"}),
    )
    .await
    .expect(200);
    assert_eq!(again.body["id"], credit["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    post(
        &app,
        &admin,
        &format!("/accounts/{ada}/credit"),
        json!({"amount": 999, "reason": "Bonus", "idempotency_key": "bonus-1"}),
    )
    .await
    .expect_error(409, "conflict");

    // The key may come as a header.
    let debit = app
        .as_user(
            Method::POST,
            &format!("/api/wallet/accounts/{ada}/debit"),
            "demo",
            &admin,
        )
        .header("idempotency-key", "lunch-1")
        .json(&json!({"amount": 300, "reason": "Lunch"}))
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(debit["balance_after"], 700);

    let refused = post(
        &app,
        &admin,
        &format!("/accounts/{ada}/debit"),
        json!({"amount": 701, "reason": "Too much", "idempotency_key": "big-1"}),
    )
    .await
    .expect_error(409, "conflict");
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("Insufficient funds"),
        "{}",
        refused.text
    );

    // A correction is a reversing transaction, once; a reversal is not reversed.
    let debit_id = debit["id"].as_str().unwrap();
    let reversal = post(
        &app,
        &admin,
        &format!("/transactions/{debit_id}/reverse"),
        json!({"reason": "Lunch was on the house"}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(reversal["type"], "credit");
    assert_eq!(reversal["reverses"], debit_id);
    assert_eq!(reversal["balance_after"], 1000);
    let twice = post(
        &app,
        &admin,
        &format!("/transactions/{debit_id}/reverse"),
        json!({"reason": "Again", "idempotency_key": "another"}),
    )
    .await
    .expect_error(409, "conflict");
    assert!(
        twice.body["error"]
            .as_str()
            .unwrap()
            .contains("already reversed")
    );
    let reversal_id = reversal["id"].as_str().unwrap();
    post(
        &app,
        &admin,
        &format!("/transactions/{reversal_id}/reverse"),
        json!({"reason": "Undo"}),
    )
    .await
    .expect_error(409, "conflict");
    // The payouts' keys are theirs alone.
    post(
        &app,
        &admin,
        &format!("/transactions/{}/reverse", credit["id"].as_str().unwrap()),
        json!({"reason": "Undo", "idempotency_key": "payout:2026-12"}),
    )
    .await
    .expect_error(422, "validation_failed");
    post(
        &app,
        &admin,
        "/transactions/no-such-transaction/reverse",
        json!({"reason": "Undo"}),
    )
    .await
    .expect_error(404, "not_found");

    // With overdrafts allowed to a limit, a debit may go below zero that far.
    app.set_module_settings(
        "demo",
        "wallet",
        &json!({"allow_overdraft": true, "overdraft_limit": 500}),
    )
    .await;
    let overdrawn = post(
        &app,
        &admin,
        &format!("/accounts/{ada}/debit"),
        json!({"amount": 1500, "reason": "Advance", "idempotency_key": "advance-1"}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(overdrawn["balance_after"], -500);
    post(
        &app,
        &admin,
        &format!("/accounts/{ada}/debit"),
        json!({"amount": 1, "reason": "One more", "idempotency_key": "advance-2"}),
    )
    .await
    .expect_error(409, "conflict");

    // The history: newest first, filtered by type, amount and date.
    let all = history(&app, &admin, &ada, "").await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["id"], overdrawn["id"]);
    let account = get(&app, &admin, &format!("/accounts/{ada}"))
        .await
        .expect(200)
        .body;
    assert_eq!(account["balance"], -500);
    assert_eq!(all.iter().map(signed).sum::<i64>(), -500);
    assert_eq!(history(&app, &admin, &ada, "&type=debit").await.len(), 2);
    let mid = history(&app, &admin, &ada, "&min_amount=300&max_amount=1000").await;
    assert_eq!(mid.len(), 3, "{mid:?}");
    let today = credit["date"].as_str().unwrap();
    assert_eq!(
        history(&app, &admin, &ada, &format!("&from={today}&to={today}"))
            .await
            .len(),
        4
    );
    assert!(
        history(&app, &admin, &ada, "&to=2000-01-01")
            .await
            .is_empty()
    );
    for bad in [
        "type=refund",
        "from=yesterday",
        "to=2026-02-30",
        "min_amount=ten",
    ] {
        get(&app, &admin, &format!("/accounts/{ada}/transactions?{bad}"))
            .await
            .expect_error(422, "validation_failed");
    }

    // The month's statement adds up.
    let month = credit["month"].as_str().unwrap();
    let statement = get(
        &app,
        &admin,
        &format!("/accounts/{ada}/statement?month={month}"),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(statement["opening_balance"], 0);
    assert_eq!(statement["credits"], 1300);
    assert_eq!(statement["debits"], 1800);
    assert_eq!(statement["closing_balance"], -500);
    assert_eq!(statement["count"], 4);
    assert_eq!(statement["items"][0]["id"], credit["id"]);
    let later = get(
        &app,
        &admin,
        &format!("/accounts/{ada}/statement?month=2099-01"),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(later["opening_balance"], -500);
    assert_eq!(later["closing_balance"], -500);
    assert_eq!(later["count"], 0);
    get(
        &app,
        &admin,
        &format!("/accounts/{ada}/statement?month=2026-13"),
    )
    .await
    .expect_error(422, "validation_failed");

    // Nothing is edited or deleted: there are no such routes.
    let txn = format!(
        "/api/wallet/transactions/{}",
        credit["id"].as_str().unwrap()
    );
    for method in [Method::PATCH, Method::DELETE, Method::PUT] {
        let status = app
            .as_user(method, &txn, "demo", &admin)
            .send()
            .await
            .status
            .as_u16();
        assert!(status == 404 || status == 405, "{status}");
    }
}

async fn postings_are_checked(backend: Backend) {
    let app = wallet_app(backend).start().await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    // Opened, by the event, in the currency of the day.
    wait_for_account(&app, &admin, &ada).await;
    let credit = format!("/accounts/{ada}/credit");

    for (body, field) in [
        (
            json!({"amount": 0, "reason": "x", "idempotency_key": "k"}),
            "amount",
        ),
        (
            json!({"amount": -5, "reason": "x", "idempotency_key": "k"}),
            "amount",
        ),
        (
            json!({"amount": "5", "reason": "x", "idempotency_key": "k"}),
            "amount",
        ),
        (
            json!({"amount": 1.5, "reason": "x", "idempotency_key": "k"}),
            "amount",
        ),
        (json!({"amount": 5, "idempotency_key": "k"}), "reason"),
        (json!({"amount": 5, "reason": ""}), "reason"),
        (json!({"amount": 5, "reason": "x"}), "idempotency_key"),
        (
            json!({"amount": 5, "reason": "x", "idempotency_key": "payout:2026-01"}),
            "idempotency_key",
        ),
        (
            json!({"amount": 5, "reason": "x", "idempotency_key": "k", "currency": "EUR"}),
            "currency",
        ),
        (
            json!({"amount": 5, "reason": "x", "idempotency_key": "k", "note": 1}),
            "note",
        ),
    ] {
        let refused = post(&app, &admin, &credit, body.clone())
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"][field].is_string(),
            "{body}: {}",
            refused.text
        );
    }
    app.as_user(
        Method::POST,
        &format!("/api/wallet{credit}"),
        "demo",
        &admin,
    )
    .raw("{\"amount\": 5,")
    .send()
    .await
    .expect_error(400, "bad_request");
    post(
        &app,
        &admin,
        "/accounts/no-such-employee/credit",
        json!({"amount": 5, "reason": "x", "idempotency_key": "k"}),
    )
    .await
    .expect_error(404, "not_found");
    get(&app, &admin, "/accounts/no-such-employee")
        .await
        .expect_error(404, "not_found");

    // Only a tenant admin moves money.
    post(
        &app,
        &manager,
        &credit,
        json!({"amount": 5, "reason": "x", "idempotency_key": "k"}),
    )
    .await
    .expect_error(403, "forbidden");

    // Settings an admin got wrong stop postings with a clear answer.
    app.set_module_settings("demo", "wallet", &json!({"currency": "dollars"}))
        .await;
    let refused = post(
        &app,
        &admin,
        &credit,
        json!({"amount": 5, "reason": "x", "idempotency_key": "k"}),
    )
    .await
    .expect_error(409, "conflict");
    assert!(refused.body["error"].as_str().unwrap().contains("ISO 4217"));
    app.set_module_settings("demo", "wallet", &json!({"currency": "EUR"}))
        .await;
    // The account was opened in USD before the change, and stays so.
    let account = get(&app, &admin, &format!("/accounts/{ada}"))
        .await
        .expect(200)
        .body;
    assert_eq!(account["currency"], "USD");
    let bob = app.hire("demo", "Bob", "bob@demo.test", 5000).await;
    let euro = post(
        &app,
        &admin,
        &format!("/accounts/{bob}/credit"),
        json!({"amount": 5, "reason": "x", "idempotency_key": "k", "currency": "EUR"}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(euro["currency"], "EUR");
}

/// 200 debits and credits at once on one account: none lost, no overdraft, and the
/// balance is exactly the sum of the transactions.
async fn parallel_postings_keep_the_balance_exact(backend: Backend) {
    let app = wallet_app(backend)
        .with_tenant_rate_limit(None)
        .start()
        .await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    post(
        &app,
        &admin,
        &format!("/accounts/{ada}/credit"),
        json!({"amount": 300, "reason": "Float", "idempotency_key": "float"}),
    )
    .await
    .expect(201);

    // 100 credits of 3 and 100 debits of 5: debits that come before enough credits
    // find too little money and are refused.
    let posting = |i: usize| {
        let (kind, amount) = if i.is_multiple_of(2) {
            ("credit", 3)
        } else {
            ("debit", 5)
        };
        let path = format!("/api/wallet/accounts/{ada}/{kind}");
        let body =
            json!({"amount": amount, "reason": "Storm", "idempotency_key": format!("storm-{i}")});
        let (app, admin) = (&app, &admin);
        async move {
            // A client retries what the host could not take yet, with the same key.
            loop {
                let resp = app
                    .as_user(Method::POST, &path, "demo", admin)
                    .json(&body)
                    .send()
                    .await;
                let busy = resp.status == 503
                    || resp.status == 429
                    || resp.body["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("busy"));
                if !busy {
                    return (kind, resp.status.as_u16(), resp.text);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let results = join_all((0..200).map(posting)).await;
    let mut expected = 300;
    for (kind, status, text) in &results {
        match (*kind, *status) {
            ("credit", 201) => expected += 3,
            ("debit", 201) => expected -= 5,
            ("debit", 409) => assert!(text.contains("Insufficient funds"), "{text}"),
            other => panic!("unexpected answer {other:?}: {text}"),
        }
    }
    assert!(
        results
            .iter()
            .filter(|(k, s, _)| *k == "credit" && *s == 201)
            .count()
            == 100,
        "every credit lands"
    );

    let account = get(&app, &admin, &format!("/accounts/{ada}"))
        .await
        .expect(200)
        .body;
    assert_eq!(account["balance"], expected);
    let all = history(&app, &admin, &ada, "").await;
    let posted = results.iter().filter(|(_, s, _)| *s == 201).count();
    assert_eq!(all.len(), posted + 1);
    assert_eq!(all.iter().map(signed).sum::<i64>(), expected);
    // Each transaction's balance follows from the one before it, and none is below zero.
    let mut running = 0;
    for txn in all.iter().rev() {
        running += signed(txn);
        assert_eq!(txn["balance_after"], running, "{txn}");
        assert!(running >= 0, "overdraft: {txn}");
    }
}

async fn members_see_their_own_account_only(backend: Backend) {
    let app = wallet_app(backend).start().await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 5000).await;
    wait_for_account(&app, &admin, &ada).await;
    wait_for_account(&app, &admin, &bob).await;
    let ada_token = app
        .token_with_email("demo", Role::Member, "ADA@demo.test")
        .await;
    let stranger = app
        .token_with_email("demo", Role::Member, "eve@demo.test")
        .await;
    let manager = app.token("demo", Role::Manager).await;

    let own = get(&app, &ada_token, "/").await.expect(200).body;
    let items = own["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ada.as_str());
    get(&app, &ada_token, &format!("/accounts/{ada}"))
        .await
        .expect(200);
    get(&app, &ada_token, &format!("/accounts/{ada}/transactions"))
        .await
        .expect(200);
    get(&app, &ada_token, &format!("/accounts/{ada}/statement"))
        .await
        .expect(200);
    for path in [
        format!("/accounts/{bob}"),
        format!("/accounts/{bob}/transactions"),
        format!("/accounts/{bob}/statement"),
    ] {
        get(&app, &ada_token, &path)
            .await
            .expect_error(403, "forbidden");
    }
    // Bob's transaction does not exist for Ada.
    let bobs = post(
        &app,
        &admin,
        &format!("/accounts/{bob}/credit"),
        json!({"amount": 5, "reason": "x", "idempotency_key": "k"}),
    )
    .await
    .expect(201)
    .body;
    get(
        &app,
        &ada_token,
        &format!("/transactions/{}", bobs["id"].as_str().unwrap()),
    )
    .await
    .expect_error(404, "not_found");
    // Someone without an employee record sees no account.
    let none = get(&app, &stranger, "/").await.expect(200).body;
    assert_eq!(none["items"], json!([]));
    // Managers see every account, but neither they nor members pay out.
    let all = get(&app, &manager, "/").await.expect(200).body;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    get(&app, &manager, &format!("/accounts/{bob}"))
        .await
        .expect(200);
    for token in [&manager, &ada_token] {
        post(&app, token, "/payouts", json!({}))
            .await
            .expect_error(403, "forbidden");
    }
    get(&app, &ada_token, "/payouts")
        .await
        .expect_error(403, "forbidden");
}

async fn payouts_pay_each_period_once(backend: Backend) {
    let app = wallet_app(backend).start().await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 7000).await;
    let zed = app.hire("demo", "Zed", "zed@demo.test", 0).await;
    let gone = app.hire("demo", "Gone", "gone@demo.test", 9000).await;
    app.as_user(
        Method::PATCH,
        &format!("/api/employees/{gone}"),
        "demo",
        &admin,
    )
    .json(&json!({"status": "inactive"}))
    .send()
    .await
    .expect(200);

    let paid = post(&app, &admin, "/payouts", json!({"period": "2026-11"}))
        .await
        .expect(201)
        .body;
    assert_eq!(paid["id"], "2026-11");
    assert_eq!(paid["paid"], 2);
    assert_eq!(paid["total"], 12000);
    assert_eq!(
        paid["skipped"],
        json!([{"employee_id": zed, "reason": "no salary"}])
    );

    let again = post(&app, &admin, "/payouts", json!({"period": "2026-11"}))
        .await
        .expect(200)
        .body;
    assert_eq!(again["already_paid"], true);
    assert_eq!(again["paid"], 0);
    assert_eq!(again["payout"]["id"], "2026-11");
    for (employee, balance) in [(&ada, 5000), (&bob, 7000), (&gone, 0)] {
        let account = get(&app, &admin, &format!("/accounts/{employee}"))
            .await
            .expect(200)
            .body;
        assert_eq!(account["balance"], balance, "{employee}");
    }
    let credits = history(&app, &admin, &ada, "").await;
    assert_eq!(credits.len(), 1);
    assert_eq!(credits[0]["payout"], "2026-11");
    assert_eq!(credits[0]["reason"], "Salary 2026-11");

    // Another period pays again; the list shows both, newest first.
    post(&app, &admin, "/payouts", json!({"period": "2026-12"}))
        .await
        .expect(201);
    let list = get(&app, &admin, "/payouts").await.expect(200).body;
    let periods: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2026-12", "2026-11"]);
    // Without a period, the current one.
    let current = post(&app, &admin, "/payouts", json!({})).await;
    assert!(
        matches!(current.status.as_u16(), 200 | 201),
        "{}",
        current.text
    );

    for bad in ["2026-13", "November", "2026-W48"] {
        post(&app, &admin, "/payouts", json!({"period": bad}))
            .await
            .expect_error(422, "validation_failed");
    }
    post(&app, &admin, "/payouts", json!({"when": "now"}))
        .await
        .expect_error(422, "validation_failed");

    // A tenant that pays weekly names weeks.
    app.set_module_settings("demo", "wallet", &json!({"payout_period": "week"}))
        .await;
    let weekly = post(&app, &admin, "/payouts", json!({"period": "2026-W49"}))
        .await
        .expect(201)
        .body;
    assert_eq!(weekly["paid"], 2);
    post(&app, &admin, "/payouts", json!({"period": "2026-W54"}))
        .await
        .expect_error(422, "validation_failed");
    post(&app, &admin, "/payouts", json!({"period": "2026-12"}))
        .await
        .expect_error(422, "validation_failed");
}

async fn the_payout_schedule_pays_the_month_that_ended(backend: Backend) {
    // 2026-01-31 12:00 UTC: the monthly payout is due on the 1st at 06:00.
    let clock = Clock::manual(1_769_860_800_000);
    let app = wallet_app(backend).with_clock(&clock).start().await;
    let admin = app.token("demo", Role::TenantAdmin).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    wait_for_account(&app, &admin, &ada).await;
    // The scheduler plans the tenant's firings before the clock moves.
    let started = Instant::now();
    loop {
        let planned = app
            .req(Method::GET, "/api/admin/schedules?tenant=demo")
            .bearer(&app.admin_token())
            .send()
            .await
            .expect(200)
            .body;
        if planned["items"].as_array().is_some_and(|s| s.len() >= 2) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no schedule planned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let payouts = loop {
        clock.advance(Duration::from_secs(3600));
        let list = get(&app, &admin, "/payouts").await.expect(200).body;
        let items = list["items"].as_array().unwrap().clone();
        if !items.is_empty() {
            break items;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the schedule never paid"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["id"], "2026-01");
    assert_eq!(payouts[0]["actor"], "system");
    let account = get(&app, &admin, &format!("/accounts/{ada}"))
        .await
        .expect(200)
        .body;
    assert_eq!(account["balance"], 5000);
    // Paying that month by hand now pays nothing.
    let again = post(&app, &admin, "/payouts", json!({"period": "2026-01"}))
        .await
        .expect(200)
        .body;
    assert_eq!(again["already_paid"], true);
}

async fn wallet_is_gated_and_isolated(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["wallet"])
        .with_tenant("acme", &[])
        .with_tenant("globex", &["wallet"])
        .start()
        .await;
    let acme = app.token("acme", Role::TenantAdmin).await;
    app.as_user(Method::GET, "/api/wallet/", "acme", &acme)
        .send()
        .await
        .expect_gated("wallet");

    let admin = app.token("demo", Role::TenantAdmin).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 5000).await;
    let credit = post(
        &app,
        &admin,
        &format!("/accounts/{ada}/credit"),
        json!({"amount": 5, "reason": "x", "idempotency_key": "k"}),
    )
    .await
    .expect(201)
    .body;
    // Another tenant names demo's employee and transaction in vain.
    let globex = app.token("globex", Role::TenantAdmin).await;
    let other = |method: Method, path: String| {
        app.as_user(method, &format!("/api/wallet{path}"), "globex", &globex)
    };
    other(Method::GET, format!("/accounts/{ada}"))
        .send()
        .await
        .expect_error(404, "not_found");
    other(
        Method::GET,
        format!("/transactions/{}", credit["id"].as_str().unwrap()),
    )
    .send()
    .await
    .expect_error(404, "not_found");
    other(Method::POST, format!("/accounts/{ada}/credit"))
        .json(&json!({"amount": 5, "reason": "x", "idempotency_key": "k"}))
        .send()
        .await
        .expect_error(404, "not_found");
    let listed = other(Method::GET, "/".into()).send().await.expect(200).body;
    assert_eq!(listed["items"], json!([]));
}
