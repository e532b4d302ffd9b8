//! The shifts module (issue #12): templates, assignments without double-booking
//! (night shifts crossing midnight included, and concurrent placements), a week in
//! bulk, upcoming shifts, who is on duty, swaps approved by a manager, the gate.

use mosaic::auth::Role;
use mosaic_tests::{Backend, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    templates_are_checked,
    assignments_never_overlap,
    a_week_is_assigned_in_bulk,
    swaps_are_approved_by_a_manager,
    concurrent_placements_do_not_double_book,
    shifts_are_gated_and_isolated,
);

/// Monday 7 January 2030, in the tenant's zone (UTC).
const MONDAY: &str = "2030-01-07";
const MONDAY_MS: u64 = 1_893_974_400_000;
const HOUR: u64 = 3_600_000;

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> mosaic_tests::Req {
    app.as_user(method, &format!("/api/shifts{path}"), "demo", token)
}

async fn shifts_app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["shifts"])
        .start()
        .await
}

async fn template(app: &TestApp, manager: &str, body: Value) -> String {
    call(app, Method::POST, "/templates", manager)
        .json(&body)
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assign(
    app: &TestApp,
    manager: &str,
    employee: &str,
    template: &str,
    date: &str,
) -> mosaic_tests::Req {
    call(app, Method::POST, "/", manager)
        .json(&json!({"employee_id": employee, "template_id": template, "date": date}))
}

async fn templates_are_checked(backend: Backend) {
    let app = shifts_app(backend).await;
    let manager = app.token("demo", Role::Manager).await;
    let member = app.token("demo", Role::Member).await;
    let day = json!({"name": "Day", "start": "09:00", "end": "17:30", "break_minutes": 30});
    call(&app, Method::POST, "/templates", &member)
        .json(&day)
        .send()
        .await
        .expect_error(403, "forbidden");
    let created = call(&app, Method::POST, "/templates", &manager)
        .json(&day)
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(created["days"], json!(["MON", "TUE", "WED", "THU", "FRI"]));
    assert_eq!(created["active"], true);

    let refused = call(&app, Method::POST, "/templates", &manager)
        .json(&json!({"name": "", "start": "25:00", "end": "9am", "break_minutes": -5, "colour": "red"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    for field in ["name", "end", "break_minutes", "colour"] {
        assert!(
            refused.body["fields"][field].is_string(),
            "{field}: {}",
            refused.text
        );
    }
    let refused = call(&app, Method::POST, "/templates", &manager)
        .json(&json!({"name": "Odd", "start": "25:00", "end": "08:00"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(refused.body["fields"]["start"], "must be a time as HH:MM");
    for (days, what) in [
        (json!(["MON", "FUNDAY"]), "FUNDAY"),
        (json!([]), "days"),
        (json!("MON"), "list"),
    ] {
        let refused = call(&app, Method::POST, "/templates", &manager)
            .json(&json!({"name": "Odd", "start": "08:00", "end": "12:00", "days": days}))
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"]["days"]
                .as_str()
                .unwrap()
                .contains(what),
            "{}",
            refused.text
        );
    }
    call(&app, Method::POST, "/templates", &manager)
        .json(&json!({"name": "Zero", "start": "08:00", "end": "08:00"}))
        .send()
        .await
        .expect_error(422, "validation_failed");

    // Days are kept once each, in week order; a change keeps what it does not send.
    let id = created["id"].as_str().unwrap();
    let changed = call(&app, Method::PATCH, &format!("/templates/{id}"), &manager)
        .json(&json!({"days": ["sun", "MON", "MON"], "version": created["version"]}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(changed["days"], json!(["MON", "SUN"]));
    assert_eq!(changed["start"], "09:00");
    call(&app, Method::PATCH, &format!("/templates/{id}"), &manager)
        .json(&json!({"name": "Stale", "version": created["version"]}))
        .send()
        .await
        .expect_error(409, "conflict");
    let listed = call(&app, Method::GET, "/templates", &member)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // A template with assignments is deactivated, not deleted.
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    assign(&app, &manager, &ada, id, MONDAY)
        .send()
        .await
        .expect(201);
    call(&app, Method::DELETE, &format!("/templates/{id}"), &manager)
        .send()
        .await
        .expect_error(409, "conflict");
    call(&app, Method::PATCH, &format!("/templates/{id}"), &manager)
        .json(&json!({"active": false}))
        .send()
        .await
        .expect(200);
    let refused = assign(&app, &manager, &ada, id, "2030-01-13")
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        refused.body["fields"]["template_id"],
        "template is inactive"
    );
    let unused = template(
        &app,
        &manager,
        json!({"name": "Spare", "start": "10:00", "end": "11:00"}),
    )
    .await;
    call(
        &app,
        Method::DELETE,
        &format!("/templates/{unused}"),
        &manager,
    )
    .send()
    .await
    .expect(204);
    call(&app, Method::GET, &format!("/templates/{unused}"), &manager)
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn assignments_never_overlap(backend: Backend) {
    let app = shifts_app(backend).await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let every_day = json!(["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]);
    let night = template(&app, &manager, json!({"name": "Night", "start": "22:00", "end": "06:00", "days": every_day, "break_minutes": 30})).await;
    let early = template(
        &app,
        &manager,
        json!({"name": "Early", "start": "05:00", "end": "13:00", "days": every_day}),
    )
    .await;
    let morning = template(
        &app,
        &manager,
        json!({"name": "Morning", "start": "06:00", "end": "14:00"}),
    )
    .await;

    let placed = assign(&app, &manager, &ada, &night, MONDAY)
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(placed["starts_at"], MONDAY_MS + 22 * HOUR);
    assert_eq!(
        placed["ends_at"],
        MONDAY_MS + 30 * HOUR,
        "the night ends on Tuesday"
    );
    assert_eq!(placed["minutes"], 450);
    assert_eq!(placed["status"], "SCHEDULED");
    let night_id = placed["id"].as_str().unwrap();

    // Tuesday 05:00 is still Monday's night; 06:00 is when it has ended.
    let refused = assign(&app, &manager, &ada, &early, "2030-01-08")
        .send()
        .await
        .expect_error(409, "conflict");
    assert!(
        refused.body["error"].as_str().unwrap().contains(night_id),
        "{}",
        refused.text
    );
    assign(&app, &manager, &ada, &morning, "2030-01-08")
        .send()
        .await
        .expect(201);
    // The same shift twice is an overlap too.
    assign(&app, &manager, &ada, &night, MONDAY)
        .send()
        .await
        .expect_error(409, "conflict");
    // Morning runs Monday to Friday.
    let refused = assign(&app, &manager, &ada, &morning, "2030-01-12")
        .send()
        .await
        .expect_error(422, "validation_failed");
    assert!(
        refused.body["fields"]["date"]
            .as_str()
            .unwrap()
            .contains("SAT"),
        "{}",
        refused.text
    );
    for (body, field) in [
        (
            json!({"employee_id": "nobody", "template_id": night, "date": MONDAY}),
            "employee_id",
        ),
        (
            json!({"employee_id": ada, "template_id": "none", "date": MONDAY}),
            "template_id",
        ),
        (
            json!({"employee_id": ada, "template_id": night, "date": "2030-02-30"}),
            "date",
        ),
    ] {
        let refused = call(&app, Method::POST, "/", &manager)
            .json(&body)
            .send()
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused.body["fields"][field].is_string(),
            "{field}: {}",
            refused.text
        );
    }
    call(&app, Method::POST, "/", &manager)
        .json(&json!({"employee_id": ada, "template_id": night}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    call(&app, Method::POST, "/", &manager)
        .raw("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect_error(400, "bad_request");

    // Cancelled, the night frees Tuesday's early shift.
    call(&app, Method::PATCH, &format!("/{night_id}"), &manager)
        .json(&json!({"status": "CANCELLED"}))
        .send()
        .await
        .expect(200);
    call(&app, Method::PATCH, &format!("/{night_id}"), &manager)
        .json(&json!({"status": "CANCELLED"}))
        .send()
        .await
        .expect(200);
    call(&app, Method::PATCH, &format!("/{night_id}"), &manager)
        .json(&json!({"status": "SCHEDULED"}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let refused = assign(&app, &manager, &ada, &early, "2030-01-08")
        .send()
        .await
        .expect_error(409, "conflict");
    assert!(
        refused.body["error"].as_str().unwrap().contains("Morning"),
        "{}",
        refused.text
    );
    assign(&app, &manager, &ada, &early, "2030-01-09")
        .send()
        .await
        .expect(201);

    // Everyone reads the roster; the caller's upcoming shifts come through /me.
    let member = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let listed = call(
        &app,
        Method::GET,
        &format!("/?employee_id={ada}&status=SCHEDULED"),
        &member,
    )
    .send()
    .await
    .expect(200)
    .body;
    let dates: Vec<_> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["date"].clone())
        .collect();
    assert_eq!(dates, [json!("2030-01-08"), json!("2030-01-09")]);
    let upcoming = call(&app, Method::GET, "/upcoming", &member)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(upcoming["items"].as_array().unwrap().len(), 2);
    let ranged = call(
        &app,
        Method::GET,
        "/?from=2030-01-09&to=2030-01-31",
        &member,
    )
    .send()
    .await
    .expect(200)
    .body;
    assert_eq!(ranged["items"].as_array().unwrap().len(), 1);
    call(&app, Method::GET, "/?from=tomorrow", &member)
        .send()
        .await
        .expect_error(422, "validation_failed");
    let stranger = app
        .token_with_email("demo", Role::Member, "who@demo.test")
        .await;
    call(&app, Method::GET, "/upcoming", &stranger)
        .send()
        .await
        .expect_error(404, "not_found");
    call(&app, Method::POST, "/", &member)
        .json(&json!({"employee_id": ada, "template_id": early, "date": "2030-01-10"}))
        .send()
        .await
        .expect_error(403, "forbidden");

    // On duty: from two hours before a shift until it ends.
    let on_duty = |at: u64| {
        call(
            &app,
            Method::GET,
            &format!("/on-duty?employee_id={ada}&at={at}"),
            &member,
        )
    };
    let tuesday = MONDAY_MS + 24 * HOUR;
    let found = on_duty(tuesday + 5 * HOUR).send().await.expect(200).body;
    assert_eq!(found["assignment"]["shift_name"], "Morning");
    let early_bird = on_duty(tuesday + 4 * HOUR + 30 * 60_000)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(early_bird["assignment"]["shift_name"], "Morning");
    let off = on_duty(tuesday + 14 * HOUR).send().await.expect(200).body;
    assert_eq!(off["assignment"], Value::Null);
    let long_ago = on_duty(0).send().await.expect(200).body;
    assert_eq!(long_ago["assignment"], Value::Null);
    call(&app, Method::GET, "/on-duty?employee_id=x&at=soon", &member)
        .send()
        .await
        .expect_error(422, "validation_failed");
}

async fn a_week_is_assigned_in_bulk(backend: Backend) {
    let app = shifts_app(backend).await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 100).await;
    let day = template(
        &app,
        &manager,
        json!({"name": "Day", "start": "09:00", "end": "17:00"}),
    )
    .await;
    let weekend = template(
        &app,
        &manager,
        json!({"name": "Weekend", "start": "10:00", "end": "18:00", "days": ["SAT", "SUN"]}),
    )
    .await;
    // Ada already works Wednesday.
    assign(&app, &manager, &ada, &day, "2030-01-09")
        .send()
        .await
        .expect(201);

    let week = call(&app, Method::POST, "/bulk", &manager)
        .json(&json!({"week": "2030-W02", "items": [
            {"employee_id": ada, "template_id": day},
            {"employee_id": bob, "template_id": day, "days": ["MON", "FRI"]},
            {"employee_id": bob, "template_id": weekend},
            {"employee_id": bob, "template_id": "missing"},
        ]}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(week["week_start"], MONDAY);
    assert_eq!(week["created"], 4 + 2 + 2, "{week}");
    assert_eq!(week["failed"], 2, "{week}");
    let results = week["results"].as_array().unwrap();
    let wednesday = results
        .iter()
        .find(|r| r["employee_id"] == ada && r["date"] == "2030-01-09")
        .unwrap();
    assert_eq!(wednesday["status"], 409);
    assert_eq!(wednesday["error"]["code"], "conflict");
    let missing = results
        .iter()
        .find(|r| r["template_id"] == "missing")
        .unwrap();
    assert_eq!(missing["status"], 422);
    assert!(missing["error"]["fields"]["template_id"].is_string());
    let bobs = call(
        &app,
        Method::GET,
        &format!("/?employee_id={bob}&limit=10"),
        &manager,
    )
    .send()
    .await
    .expect(200)
    .body;
    let dates: Vec<_> = bobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["date"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        dates,
        ["2030-01-07", "2030-01-11", "2030-01-12", "2030-01-13"]
    );

    for body in [
        json!({"week": "2030-W99", "items": [{"employee_id": ada, "template_id": day}]}),
        json!({"week": "2030-W02", "week_start": MONDAY, "items": [{"employee_id": ada, "template_id": day}]}),
        json!({"week_start": MONDAY, "items": []}),
        json!({"week_start": MONDAY, "items": [{"employee_id": ada, "template_id": day, "days": ["XYZ"]}]}),
        json!({"week_start": MONDAY, "items": [{"employee": ada}]}),
    ] {
        call(&app, Method::POST, "/bulk", &manager)
            .json(&body)
            .send()
            .await
            .expect_error(422, "validation_failed");
    }
    let member = app.token("demo", Role::Member).await;
    call(&app, Method::POST, "/bulk", &member)
        .json(&json!({"week_start": MONDAY, "items": []}))
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn swaps_are_approved_by_a_manager(backend: Backend) {
    let app = shifts_app(backend).await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let bob = app.hire("demo", "Bob", "bob@demo.test", 100).await;
    let ada_token = app
        .token_with_email("demo", Role::Member, "ada@demo.test")
        .await;
    let bob_token = app
        .token_with_email("demo", Role::Member, "bob@demo.test")
        .await;
    let day = template(
        &app,
        &manager,
        json!({"name": "Day", "start": "09:00", "end": "17:00"}),
    )
    .await;
    let late = template(
        &app,
        &manager,
        json!({"name": "Late", "start": "13:00", "end": "21:00"}),
    )
    .await;
    let id_of = |resp: mosaic_tests::Resp| resp.body["id"].as_str().unwrap().to_owned();
    let ada_monday = id_of(
        assign(&app, &manager, &ada, &day, MONDAY)
            .send()
            .await
            .expect(201),
    );
    let bob_tuesday = id_of(
        assign(&app, &manager, &bob, &late, "2030-01-08")
            .send()
            .await
            .expect(201),
    );

    let swap = |token: &str, mine: &str, theirs: &str| {
        call(&app, Method::POST, "/swaps", token).json(
            &json!({"assignment_id": mine, "with_assignment_id": theirs, "reason": "Dentist"}),
        )
    };
    // Only your own shift is yours to offer.
    swap(&bob_token, &ada_monday, &bob_tuesday)
        .send()
        .await
        .expect_error(403, "forbidden");
    swap(&ada_token, &ada_monday, "nothing")
        .send()
        .await
        .expect_error(422, "validation_failed");
    let requested = swap(&ada_token, &ada_monday, &bob_tuesday)
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(requested["status"], "PENDING");
    assert_eq!(requested["counterpart_employee_id"], bob);
    let id = requested["id"].as_str().unwrap();
    let decide = |token: &str, status: &str| {
        call(&app, Method::PATCH, &format!("/swaps/{id}"), token).json(&json!({"status": status}))
    };
    decide(&ada_token, "APPROVED")
        .send()
        .await
        .expect_error(403, "forbidden");
    decide(&bob_token, "CANCELLED")
        .send()
        .await
        .expect_error(404, "not_found");
    decide(&manager, "DONE")
        .send()
        .await
        .expect_error(422, "validation_failed");
    let approved = decide(&manager, "APPROVED").send().await.expect(200).body;
    assert_eq!(approved["status"], "APPROVED");
    decide(&manager, "REJECTED")
        .send()
        .await
        .expect_error(409, "conflict");
    let shift = |id: String| {
        let req = call(&app, Method::GET, &format!("/{id}"), &manager);
        async move { req.send().await.expect(200).body }
    };
    assert_eq!(shift(ada_monday.clone()).await["employee_id"], bob);
    assert_eq!(shift(bob_tuesday.clone()).await["employee_id"], ada);

    // Ada's Wednesday late shift for Bob's Monday: fine when asked, but by the
    // approval Bob works Wednesday's day shift, which the late one would overlap.
    let ada_wednesday = id_of(
        assign(&app, &manager, &ada, &late, "2030-01-09")
            .send()
            .await
            .expect(201),
    );
    let clash = swap(&manager, &ada_wednesday, &ada_monday)
        .send()
        .await
        .expect(201)
        .body;
    let clash = clash["id"].as_str().unwrap();
    assign(&app, &manager, &bob, &day, "2030-01-09")
        .send()
        .await
        .expect(201);
    let settle = |status: &str| {
        call(&app, Method::PATCH, &format!("/swaps/{clash}"), &manager)
            .json(&json!({"status": status}))
    };
    let refused = settle("APPROVED")
        .send()
        .await
        .expect_error(409, "conflict");
    assert!(
        refused.body["error"].as_str().unwrap().contains("overlaps"),
        "{}",
        refused.text
    );
    assert_eq!(
        shift(ada_wednesday.clone()).await["employee_id"],
        ada,
        "nothing moved"
    );
    let rejected = settle("REJECTED").send().await.expect(200).body;
    assert_eq!(rejected["status"], "REJECTED");

    let mine = call(&app, Method::GET, "/swaps", &ada_token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let all = call(&app, Method::GET, "/swaps?status=REJECTED", &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let events = app
        .req(Method::GET, "/api/admin/events?tenant=demo&limit=100")
        .bearer(&app.admin_token())
        .send()
        .await
        .expect(200)
        .body;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "shift.assigned",
        "shift.swap_requested",
        "shift.swapped",
        "shift.swap_rejected",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

async fn concurrent_placements_do_not_double_book(backend: Backend) {
    let app = shifts_app(backend).await;
    let manager = app.token("demo", Role::Manager).await;
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    let day = template(
        &app,
        &manager,
        json!({"name": "Day", "start": "09:00", "end": "17:00"}),
    )
    .await;
    let late = template(
        &app,
        &manager,
        json!({"name": "Late", "start": "12:00", "end": "20:00"}),
    )
    .await;
    let attempts = (0..6).map(|n| {
        let template = if n % 2 == 0 { &day } else { &late };
        assign(&app, &manager, &ada, template, MONDAY).send()
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let listed = call(&app, Method::GET, &format!("/?employee_id={ada}"), &manager)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

async fn shifts_are_gated_and_isolated(backend: Backend) {
    let app = TestApp::builder(backend)
        .on_plan("business")
        .with_tenant("demo", &["shifts"])
        .with_tenant("acme", &[])
        .with_tenant("globex", &["shifts"])
        .start()
        .await;
    let acme = app.token("acme", Role::Manager).await;
    app.as_user(Method::GET, "/api/shifts/", "acme", &acme)
        .send()
        .await
        .expect_gated("shifts");
    let manager = app.token("demo", Role::Manager).await;
    let day = template(
        &app,
        &manager,
        json!({"name": "Day", "start": "09:00", "end": "17:00"}),
    )
    .await;
    let globex = app.token("globex", Role::Manager).await;
    app.as_user(
        Method::GET,
        &format!("/api/shifts/templates/{day}"),
        "globex",
        &globex,
    )
    .send()
    .await
    .expect_error(404, "not_found");
    let ada = app.hire("demo", "Ada", "ada@demo.test", 100).await;
    // A demo employee is nobody at globex.
    app.as_user(Method::POST, "/api/shifts/", "globex", &globex)
        .json(&json!({"employee_id": ada, "template_id": day, "date": MONDAY}))
        .send()
        .await
        .expect_error(422, "validation_failed");
    let listed = app
        .as_user(Method::GET, "/api/shifts/templates", "globex", &globex)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"], json!([]));
}
