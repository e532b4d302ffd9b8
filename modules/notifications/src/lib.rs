//! Notifications: each user's in-app inbox, and their preferences per kind.
//!
//! Any module with the `notify` capability sends a message through the host, which
//! writes it into this module's `inbox` collection and reads the recipient's
//! `preferences` document (keyed by user id) to decide on the app and on mail. This
//! module serves both to their owner, and turns the other modules' events into
//! messages for the people they are about.

use mosaic_sdk::events::Event;
use mosaic_sdk::notify::{self, To};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Index};
use mosaic_sdk::{Capability, identity, modules};
use serde_json::{Map, Value, json};

/// Written by the host (`notify.send`): `user_id`, `kind`, `subject`, `body`,
/// `source`, `read`, `at`.
const INBOX: Collection = store::collection("inbox").indexes(&[Index::on(&["user_id", "read"])]);
/// One document per user, under the user's id: `{"kinds": {kind: {"in_app", "email"}}}`.
const PREFERENCES: Collection = store::collection("preferences");

struct Notifications;

impl Module for Notifications {
    fn manifest() -> Manifest {
        Manifest::new("notifications", "Notifications", env!("CARGO_PKG_VERSION"))
            .description("Each user's notifications, and how they want them")
            .icon("bell")
            .sort_order(90)
            .core()
            .depends_on("employees")
            .collection(&INBOX)
            .capability(Capability::Notify)
            .subscribe("employee.*")
            .subscribe("attendance.*")
            .subscribe("task.*")
            .subscribe("wallet.*")
    }

    fn router() -> Router {
        Router::new()
            .get("/", list)
            .get("/unread-count", unread_count)
            .post("/read-all", read_all)
            .post("/{id}/read", read_one)
            .get("/preferences", preferences)
            .patch("/preferences", update_preferences)
    }

    fn on_event(event: Event) -> std::result::Result<(), String> {
        announce(&event).map_err(|e| format!("{e:?}"))
    }
}

export_module!(Notifications);

/// The calling user: every route serves the caller's own notifications only.
fn me() -> Result<String> {
    identity::caller()
        .map(|c| c.user_id)
        .ok_or_else(|| Error::Forbidden("notifications belong to a signed-in user".into()))
}

/// The caller's notifications, newest first; `?unread=true` for the unread ones.
fn list(req: &Request) -> Result<Response> {
    let mut query = INBOX
        .query()
        .eq("user_id", me()?)
        .order_by("at", true)
        .limit(req.query_u32("limit")?.unwrap_or(20).clamp(1, 100))
        .cursor(req.query("cursor"));
    match req.query("unread") {
        None | Some("false") => {}
        Some("true") => query = query.eq("read", false),
        Some(_) => return Err(Error::invalid_field("unread", "must be true or false")),
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

fn unread_count(_: &Request) -> Result<Response> {
    let unread = INBOX.count(INBOX.query().eq("user_id", me()?).eq("read", false))?;
    Response::json(200, &json!({ "unread": unread }))
}

fn read_one(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let doc = INBOX.fetch(id, "Notification")?;
    let mut notice: Map<String, Value> = doc.parse()?;
    // Another user's notification does not exist for this one.
    if notice.get("user_id").and_then(Value::as_str) != Some(me()?.as_str()) {
        return Err(Error::NotFound("Notification not found".into()));
    }
    notice.insert("read".into(), json!(true));
    let doc = INBOX.update(id, Some(doc.version), &notice)?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// Marks every unread notification of the caller read, a page at a time.
fn read_all(_: &Request) -> Result<Response> {
    let user = me()?;
    let mut marked = 0;
    loop {
        let page = INBOX
            .query()
            .eq("user_id", user.as_str())
            .eq("read", false)
            .limit(500)
            .fetch()?;
        if page.items.is_empty() {
            break;
        }
        let mut batch = Batch::new();
        for doc in &page.items {
            let mut notice: Map<String, Value> = doc.parse()?;
            notice.insert("read".into(), json!(true));
            batch = batch.update(INBOX, &doc.id, Some(doc.version), &notice)?;
        }
        marked += page.items.len();
        batch.commit()?;
    }
    Response::json(200, &json!({ "marked": marked }))
}

fn preferences(_: &Request) -> Result<Response> {
    match PREFERENCES.get(&me()?)? {
        Some(doc) => Ok(Response::raw_json(200, doc.data)),
        None => Response::json(200, &json!({ "kinds": {} })),
    }
}

/// `{"kinds": {kind: {"in_app"?: bool, "email"?: bool} | null}}`: merged into the
/// caller's preferences; `null` forgets a kind. `*` is the default for every kind.
fn update_preferences(req: &Request) -> Result<Response> {
    let user = me()?;
    let patch: Map<String, Value> = req.json()?;
    let mut problems = std::collections::BTreeMap::new();
    for key in patch.keys().filter(|k| *k != "kinds") {
        problems.insert(key.clone(), "unknown field".to_owned());
    }
    let changes = match patch.get("kinds") {
        Some(Value::Object(kinds)) => kinds.clone(),
        _ => {
            problems.insert("kinds".into(), "must be an object of kinds".into());
            Map::new()
        }
    };
    for (kind, choice) in &changes {
        if let Err(message) = check_choice(kind, choice) {
            problems.insert(format!("kinds.{kind}"), message.into());
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let existing = PREFERENCES.get(&user)?;
    let mut kinds = match &existing {
        Some(doc) => doc.parse::<Value>()?["kinds"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        None => Map::new(),
    };
    for (kind, choice) in changes {
        if choice.is_null() {
            kinds.remove(&kind);
            continue;
        }
        let entry = kinds
            .entry(kind)
            .or_insert_with(|| json!({"in_app": true, "email": false}));
        for (channel, on) in choice.as_object().into_iter().flatten() {
            entry[channel] = on.clone();
        }
    }
    let preferences = json!({ "kinds": kinds });
    let doc = match existing {
        Some(doc) => PREFERENCES.update(&user, Some(doc.version), &preferences)?,
        None => PREFERENCES.insert_with_id(&user, &preferences)?,
    };
    Ok(Response::raw_json(200, doc.data))
}

fn check_choice(kind: &str, choice: &Value) -> std::result::Result<(), &'static str> {
    let kind_ok = kind == "*"
        || kind.split('.').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
        });
    if !kind_ok || kind.len() > 100 {
        return Err("is not a notification kind");
    }
    match choice {
        Value::Null => Ok(()),
        Value::Object(channels) => {
            for (channel, on) in channels {
                if !matches!(channel.as_str(), "in_app" | "email") {
                    return Err("channels are in_app and email");
                }
                if !on.is_boolean() {
                    return Err("a channel is true or false");
                }
            }
            Ok(())
        }
        _ => Err("must be an object or null"),
    }
}

/// Turns another module's event into a message for the person it is about.
fn announce(event: &Event) -> Result<()> {
    let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
    let (email, subject, body) = match event.kind.as_str() {
        "employee.created" => (
            data["email"].as_str().map(str::to_owned),
            "Welcome aboard".to_owned(),
            format!(
                "Your employee record was created, {}.",
                data["name"].as_str().unwrap_or("")
            ),
        ),
        "employee.updated" => (
            data["email"].as_str().map(str::to_owned),
            "Your employee record changed".to_owned(),
            "Your employee record was updated.".to_owned(),
        ),
        "attendance.checked_in" | "attendance.checked_out" => {
            let verb = if event.kind.ends_with("in") {
                "in"
            } else {
                "out"
            };
            (
                employee_email(data["employee_id"].as_str())?,
                format!("Checked {verb}"),
                format!("You were checked {verb}."),
            )
        }
        "task.assigned" | "task.status_changed" | "task.commented" => {
            let title = data["title"].as_str().unwrap_or("");
            let (subject, body) = match event.kind.as_str() {
                "task.assigned" => (
                    format!("Task assigned: {title}"),
                    format!("You were assigned the task \"{title}\"."),
                ),
                "task.status_changed" => (
                    format!("Task {}: {title}", data["to"].as_str().unwrap_or("")),
                    format!(
                        "\"{title}\" moved from {} to {}.",
                        data["from"].as_str().unwrap_or(""),
                        data["to"].as_str().unwrap_or("")
                    ),
                ),
                _ => (
                    format!("New comment: {title}"),
                    format!("Someone commented on \"{title}\"."),
                ),
            };
            (employee_email(data["assignee_id"].as_str())?, subject, body)
        }
        "wallet.credited" | "wallet.debited" => {
            let verb = if event.kind.ends_with("credited") {
                "credited"
            } else {
                "debited"
            };
            (
                employee_email(data["employee_id"].as_str())?,
                format!("Your wallet was {verb}"),
                format!(
                    "{} {} {verb} ({}); the balance is now {}.",
                    data["amount"],
                    data["currency"].as_str().unwrap_or(""),
                    data["reason"].as_str().unwrap_or(""),
                    data["balance_after"]
                ),
            )
        }
        // Nobody to tell (a deleted employee has no address left), or a kind this
        // module does not announce.
        _ => return Ok(()),
    };
    let Some(email) = email else {
        return Ok(());
    };
    match notify::send(To::Email(&email), &event.kind, &subject, &body) {
        // The employee has no user account in this tenant: nobody to tell.
        Ok(()) | Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// An employee's address, asked of the employees module.
fn employee_email(id: Option<&str>) -> Result<Option<String>> {
    let Some(id) = id else {
        return Ok(None);
    };
    #[derive(serde::Deserialize)]
    struct Employee {
        email: String,
    }
    Ok(modules::employee::<Employee>(id)?.map(|e| e.email))
}
