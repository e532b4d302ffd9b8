//! Attendance grown up (issue #12): sessions recorded and corrected by managers with
//! their history, lateness and early leave against the shift when the tenant has
//! shifts (and absent without), the day per employee and the month per employee
//! and department.

use jiff::{Timestamp, ToSpan};
use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    managers_record_and_correct_sessions,
    lateness_is_judged_against_the_shift,
    a_live_check_in_is_late_against_todays_shift,
    the_day_and_the_month_are_summarised,
);

/// Monday 2 June 2025, 00:00 UTC (the tenants' zone).
const JUNE_2: u64 = 1_748_822_400_000;
const HOUR: u64 = 3_600_000;
const MINUTE: u64 = 60_000;

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> mosaic_tests::Req {
    app.as_user(method, &format!("/api/{path}"), "demo", token)
}

async fn record(app: &TestApp, manager: &str, employee: &str, from: u64, to: u64) -> Value {
    call(app, Method::POST, "attendance/", manager)
        .json(&json!({"employee_id": employee, "check_in": from, "check_out": to, "reason": "Badge forgotten"}))
        .send()
        .await
        .expect(201)
        .body
}

async fn staff(app: &TestApp, manager: &str, name: &str, department: &str) -> String {
    let email = format!("{}@demo.test", name.to_lowercase());
    call(app, Method::POST, "employees/", manager)
        .json(&json!({"name": name, "email": email, "department": department, "salary": 100, "hired_on": "2025-01-02"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A Monday-to-Friday 09:00–17:00 template, and `employee` on it on each of `dates`.
async fn day_shifts(app: &TestApp, manager: &str, employee: &str, dates: &[&str]) -> Vec<String> {
    let template = call(app, Method::POST, "shifts/templates", manager)
        .json(&json!({"name": "Day", "start": "09:00", "end": "17:00"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .clone();
    let mut ids = Vec::new();
    for date in dates {
        let placed = call(app, Method::POST, "shifts/", manager)
            .json(&json!({"employee_id": employee, "template_id": template, "date": date}))
            .send()
            .await
            .expect(201)
            .body;
        ids.push(placed["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn managers_record_and_correct_sessions(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_tenant("demo", &["attendance"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let member = app.token("demo", Role::Member).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let entry = |body: Value| call(&app, Method::POST, "attendance/", &manager).json(&body);
    let nine = JUNE_2 + 9 * HOUR;
    let recorded = record(&app, &manager, &ada, nine, nine + 8 * HOUR).await;
    assert_eq!(recorded["source"], "manual");
    assert_eq!(recorded["date"], "2025-06-02");
    assert_eq!(recorded["minutes"], 480);
    assert_eq!(recorded["history"][0]["reason"], "Badge forgotten");
    assert!(
        recorded.get("late_minutes").is_none(),
        "no shifts, no lateness: {recorded}"
    );
    assert!(recorded.get("shift").is_none());

    call(&app, Method::POST, "attendance/", &member)
        .json(
            &json!({"employee_id": ada, "check_in": nine, "check_out": nine + HOUR, "reason": "x"}),
        )
        .send()
        .await
        .expect_error(403, "forbidden");
    let future = mosaic::store::now_ms() as u64 + HOUR;
    for (body, field) in [
        (
            json!({"employee_id": ada, "check_in": nine, "check_out": nine + HOUR, "reason": " "}),
            "reason",
        ),
        (
            json!({"employee_id": ada, "check_in": nine + HOUR, "check_out": nine, "reason": "x"}),
            "check_out",
        ),
        (
            json!({"employee_id": ada, "check_in": future, "check_out": future + HOUR, "reason": "x"}),
            "check_in",
        ),
        (
            json!({"employee_id": ada, "check_in": nine, "check_out": nine + 30 * HOUR, "reason": "x"}),
            "check_out",
        ),
        (
            json!({"employee_id": "ghost", "check_in": nine, "check_out": nine + HOUR, "reason": "x"}),
            "employee_id",
        ),
    ] {
        let refused = entry(body)
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"][field].is_string(),
            "{field}: {}",
            refused.text
        );
    }
    entry(json!({"employee_id": ada, "check_in": "nine", "check_out": nine, "reason": "x"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    // Overlapping the recorded day, from either side.
    for (from, to) in [
        (nine - HOUR, nine + HOUR),
        (nine + 7 * HOUR, nine + 9 * HOUR),
    ] {
        let refused =
            entry(json!({"employee_id": ada, "check_in": from, "check_out": to, "reason": "x"}))
                .send()
                .await
                .expect_error(409, "conflict");
        assert!(
            refused.body["error"]
                .as_str()
                .unwrap()
                .contains(recorded["id"].as_str().unwrap())
        );
    }
    record(&app, &manager, &ada, nine + 8 * HOUR, nine + 9 * HOUR).await;

    // A correction needs a reason, is kept in the history, and recomputes minutes.
    let id = recorded["id"].as_str().unwrap();
    let correct = |token: &str, body: Value| {
        call(&app, Method::PATCH, &format!("attendance/{id}"), token).json(&body)
    };
    correct(&manager, json!({"check_in": nine - HOUR}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    correct(
        &member,
        json!({"check_in": nine - HOUR, "reason": "Came early"}),
    )
    .send()
    .await
    .expect_error(403, "forbidden");
    correct(
        &manager,
        json!({"check_out": nine + 9 * HOUR, "reason": "Stayed"}),
    )
    .send()
    .await
    .expect_error(409, "conflict");
    correct(&manager, json!({"minutes": 1, "reason": "x"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let corrected = correct(
        &manager,
        json!({"check_in": nine - HOUR, "reason": "Came early"}),
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(corrected["minutes"], 540);
    let history = corrected["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["reason"], "Came early");
    assert_eq!(history[1]["from"]["check_in"], nine);
    assert_eq!(history[1]["to"]["check_in"], nine - HOUR);
    assert_eq!(history[1]["by"], "user-demo");
    correct(
        &manager,
        json!({"check_in": nine, "reason": "Again", "version": recorded["version"]}),
    )
    .send()
    .await
    .expect_error(409, "conflict");
    let shown = call(&app, Method::GET, &format!("attendance/{id}"), &member)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(shown["check_in"], nine - HOUR);
    call(&app, Method::GET, "attendance/nope", &member)
        .send()
        .await
        .expect_error(404, "not_found");
    let listed = call(
        &app,
        Method::GET,
        "attendance/?from=2025-06-01&to=2025-06-02",
        &member,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

async fn lateness_is_judged_against_the_shift(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["attendance", "shifts"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let shifts = day_shifts(&app, &manager, &ada, &["2025-06-02"]).await;
    let late = record(
        &app,
        &manager,
        &ada,
        JUNE_2 + 9 * HOUR + 20 * MINUTE,
        JUNE_2 + 16 * HOUR + 30 * MINUTE,
    )
    .await;
    assert_eq!(late["late_minutes"], 20, "{late}");
    assert_eq!(late["early_leave_minutes"], 30);
    assert_eq!(late["shift"]["assignment_id"], shifts[0].as_str());
    assert_eq!(late["shift"]["name"], "Day");
    // Corrected to on time, it is judged again.
    let fixed = call(&app, Method::PATCH, &format!("attendance/{}", late["id"].as_str().unwrap()), &manager)
        .json(&json!({"check_in": JUNE_2 + 9 * HOUR, "check_out": JUNE_2 + 17 * HOUR + 5 * MINUTE, "reason": "Clock was wrong"}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(fixed["late_minutes"], 0);
    assert_eq!(fixed["early_leave_minutes"], 0);
    // A day without a shift has no lateness at all.
    let unscheduled = record(&app, &manager, &ada, JUNE_2 + 33 * HOUR, JUNE_2 + 34 * HOUR).await;
    assert!(unscheduled.get("late_minutes").is_none(), "{unscheduled}");

    // With shifts switched off for the tenant, the fields are absent, not wrong.
    app.req(Method::POST, "/api/admin/tenants/demo/modules/shifts")
        .bearer(&app.admin_token())
        .json(&json!({"enabled": false}))
        .send()
        .await
        .expect(200);
    let without = record(&app, &manager, &ada, JUNE_2 + 57 * HOUR, JUNE_2 + 58 * HOUR).await;
    assert!(without.get("late_minutes").is_none(), "{without}");
    assert!(without.get("shift").is_none());
}

async fn a_live_check_in_is_late_against_todays_shift(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["attendance", "shifts"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    // A four-hour shift that began half an hour ago (it may cross midnight).
    let start = Timestamp::now()
        .checked_sub(30.minutes())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC);
    let end = start.checked_add(4.hours()).unwrap();
    let template = call(&app, Method::POST, "shifts/templates", &manager)
        .json(&json!({"name": "Now", "start": start.strftime("%H:%M").to_string(), "end": end.strftime("%H:%M").to_string(),
                      "days": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .clone();
    call(&app, Method::POST, "shifts/", &manager)
        .json(
            &json!({"employee_id": ada, "template_id": template, "date": start.date().to_string()}),
        )
        .send()
        .await
        .expect(201);
    let checked_in = call(&app, Method::POST, "attendance/check-in", &manager)
        .json(&json!({"employee_id": ada}))
        .send()
        .await
        .expect(201)
        .body;
    let late = checked_in["late_minutes"].as_u64().unwrap();
    assert!((29..=31).contains(&late), "{checked_in}");
    assert!(checked_in.get("early_leave_minutes").is_none());
    let checked_out = call(&app, Method::POST, "attendance/check-out", &manager)
        .json(&json!({"employee_id": ada}))
        .send()
        .await
        .expect(200)
        .body;
    let early = checked_out["early_leave_minutes"].as_u64().unwrap();
    assert!((208..=211).contains(&early), "{checked_out}");
    assert_eq!(checked_out["late_minutes"], late);
}

async fn the_day_and_the_month_are_summarised(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["attendance", "shifts"])
        .start()
        .await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = staff(&app, &manager, "Ada", "Engineering").await;
    let bob = staff(&app, &manager, "Bob", "Engineering").await;
    let cy = staff(&app, &manager, "Cy", "Operations").await;
    day_shifts(&app, &manager, &ada, &["2025-06-02", "2025-06-03"]).await;
    record(
        &app,
        &manager,
        &ada,
        JUNE_2 + 9 * HOUR + 20 * MINUTE,
        JUNE_2 + 16 * HOUR + 30 * MINUTE,
    )
    .await;
    record(&app, &manager, &ada, JUNE_2 + 33 * HOUR, JUNE_2 + 41 * HOUR).await;
    // Saturday the 7th: present, but not on a working day.
    record(
        &app,
        &manager,
        &bob,
        JUNE_2 + 130 * HOUR,
        JUNE_2 + 132 * HOUR,
    )
    .await;

    let day = call(
        &app,
        Method::GET,
        "attendance/daily?date=2025-06-02",
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(day["employees"].as_array().unwrap().len(), 1);
    let row = &day["employees"][0];
    assert_eq!(row["employee_id"], ada.as_str());
    assert_eq!(row["minutes"], 430);
    assert_eq!(row["hours"], 7.17);
    assert_eq!(row["late_minutes"], 20);
    assert_eq!(row["early_leave_minutes"], 30);
    let none = call(
        &app,
        Method::GET,
        &format!("attendance/daily?date=2025-06-02&employee_id={bob}"),
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(none["employees"], json!([]));

    let month = call(
        &app,
        Method::GET,
        "attendance/summary?month=2025-06",
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(month["from"], "2025-06-01");
    assert_eq!(month["to"], "2025-06-30");
    assert_eq!(month["working_days"], 21);
    let person = |id: &str| {
        month["employees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["employee_id"] == id)
            .unwrap()
            .clone()
    };
    let a = person(&ada);
    assert_eq!(
        (a["days_present"].clone(), a["minutes"].clone()),
        (json!(2), json!(910))
    );
    assert_eq!(
        (a["late_days"].clone(), a["late_minutes"].clone()),
        (json!(1), json!(20))
    );
    assert_eq!(a["early_leave_days"], 1);
    assert_eq!(a["attendance_rate"], 0.095, "2 of 21 working days: {a}");
    assert_eq!(a["department"], "Engineering");
    let b = person(&bob);
    assert_eq!(b["days_present"], 1);
    assert_eq!(b["attendance_rate"], 0.0, "Saturday is no working day");
    assert_eq!(person(&cy)["days_present"], 0);
    let departments = month["departments"].as_array().unwrap();
    let engineering = departments
        .iter()
        .find(|d| d["department"] == "Engineering")
        .unwrap();
    assert_eq!(engineering["employees"], 2);
    assert_eq!(engineering["days_present"], 3);
    assert_eq!(engineering["attendance_rate"], 0.048);
    let totals = &month["totals"];
    assert_eq!(totals["employees"], 3);
    assert_eq!(totals["minutes"], 1030);
    assert_eq!(totals["attendance_rate"], 0.032);

    let same = call(
        &app,
        Method::GET,
        "attendance/summary?from=2025-06-01&to=2025-06-30",
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(same["totals"], month["totals"]);
    for query in [
        "month=2025-13",
        "from=2025-06-01",
        "from=2025-06-30&to=2025-06-01",
        "from=2025-01-01&to=2025-12-31",
        "month=2025-06&from=2025-06-01&to=2025-06-02",
    ] {
        call(
            &app,
            Method::GET,
            &format!("attendance/summary?{query}"),
            &manager,
        )
        .send()
        .await
        .expect_error(422, "validation_failed");
    }
    let member = app.token("demo", Role::Member).await;
    for path in ["attendance/summary", "attendance/daily", "employees/stats"] {
        call(&app, Method::GET, path, &member)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    call(&app, Method::GET, "attendance/daily?date=June", &manager)
        .send()
        .await
        .expect_error(422, "validation_failed");
}
