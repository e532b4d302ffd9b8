//! Tasks: work items with an assignee, a status flow, a kanban board, comments,
//! attachments and a history of every change.
//!
//! Assignees are employees and teams are employees' teams, both asked of the
//! employees module. The assignee hears of their tasks through the notifications
//! module, which listens to `task.*`.

mod activity;
mod attachments;
mod board;
mod comments;
mod stats;
mod task;

use mosaic_sdk::prelude::*;
use mosaic_sdk::{Capability, identity, modules};

struct Tasks;

impl Module for Tasks {
    fn manifest() -> Manifest {
        Manifest::new("tasks", "Tasks", env!("CARGO_PKG_VERSION"))
            .description("Tasks, a kanban board, comments and attachments")
            .icon("check-square")
            .sort_order(40)
            .depends_on("employees")
            .collection(&task::TASKS)
            .collection(&comments::COMMENTS)
            .collection(&attachments::ATTACHMENTS)
            .collection(&activity::ACTIVITY)
            .capability(Capability::Events)
            .capability(Capability::Files)
    }

    fn router() -> Router {
        Router::new()
            .get("/", task::list)
            .post("/", task::create)
            .get("/kanban", board::kanban)
            .get("/overdue", board::overdue)
            .get("/stats", stats::stats)
            .min_role(Role::Manager)
            .get("/{id}", task::show)
            .patch("/{id}", task::update)
            .delete("/{id}", task::remove)
            .min_role(Role::Manager)
            .get("/{id}/activity", activity::list)
            .get("/{id}/comments", comments::list)
            .post("/{id}/comments", comments::create)
            .patch("/{id}/comments/{comment_id}", comments::update)
            .delete("/{id}/comments/{comment_id}", comments::remove)
            .get("/{id}/attachments", attachments::list)
            .post("/{id}/attachments", attachments::upload)
            .get("/{id}/attachments/{attachment_id}", attachments::download)
            .delete("/{id}/attachments/{attachment_id}", attachments::remove)
    }
}

export_module!(Tasks);

/// The signed-in caller, as tasks records them.
struct Actor {
    user_id: String,
    email: Option<String>,
}

fn actor() -> Result<Actor> {
    let caller = identity::require_caller()?;
    Ok(Actor {
        user_id: caller.user_id,
        email: caller.email.map(|e| e.to_lowercase()),
    })
}

/// 422 on `team_id` unless the team exists.
fn require_team(id: &str) -> Result<()> {
    modules::check_id("team_id", id)?;
    match modules::get::<serde_json::Value>("employees", &format!("/teams/{id}"))? {
        Some(team) if team["id"] == id => Ok(()),
        _ => Err(Error::invalid_field("team_id", "no such team")),
    }
}
