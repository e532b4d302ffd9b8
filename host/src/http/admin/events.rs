//! `/api/admin/events`: a tenant's recent events, the dead letters, and replaying
//! them.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminActor;
use crate::AppState;
use crate::events::EventLog;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::tenancy::TenantView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/events", get(recent_events))
        .route("/api/admin/events/dead-letters", get(dead_letters))
        .route("/api/admin/events/dead-letters/replay", post(replay))
}

const MAX_LIMIT: u32 = 500;

fn default_limit() -> u32 {
    50
}

fn log(state: &AppState) -> EventLog<'_> {
    EventLog {
        db: &state.db,
        runtime: &state.runtime,
    }
}

async fn tenant(state: &AppState, key: &str) -> Result<std::sync::Arc<TenantView>, ApiError> {
    state
        .directory
        .by_key(key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Unknown tenant {key}")))
}

fn check_limit(limit: u32) -> Result<u32, ApiError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    /// A tenant id or subdomain.
    tenant: String,
    #[serde(default = "default_limit")]
    limit: u32,
}

/// The tenant's most recent events, newest first, with the subscribers each is
/// still pending for or dead for.
async fn recent_events(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<RecentQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = check_limit(query.limit)?;
    let view = tenant(&state, &query.tenant).await?;
    let events = log(&state).recent(&view.tenant.id, limit).await?;
    Ok(Json(
        json!({ "tenant": view.tenant.subdomain, "events": events }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetterQuery {
    /// A tenant id or subdomain; all tenants when absent.
    tenant: Option<String>,
    #[serde(default = "default_limit")]
    limit: u32,
}

async fn dead_letters(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<DeadLetterQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = check_limit(query.limit)?;
    let view = match &query.tenant {
        Some(key) => Some(tenant(&state, key).await?),
        None => None,
    };
    let tenant_id = view.as_ref().map(|v| v.tenant.id.as_str());
    let letters = log(&state).dead_letters(tenant_id, limit).await?;
    Ok(Json(json!({ "dead_letters": letters })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    /// A tenant id or subdomain.
    tenant: String,
    /// One dead letter, by its event and subscriber; every one of the tenant's when
    /// both are absent.
    event_id: Option<String>,
    subscriber: Option<String>,
}

/// Puts dead letters back in line for delivery, their attempts counted afresh.
async fn replay(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<Replay>,
) -> Result<Json<Value>, ApiError> {
    let view = tenant(&state, &body.tenant).await?;
    let one = match (&body.event_id, &body.subscriber) {
        (Some(event), Some(subscriber)) => Some((event.as_str(), subscriber.as_str())),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "give both event_id and subscriber to replay one dead letter, or neither to replay all".into(),
            ));
        }
    };
    let replayed = log(&state).replay(&view, one, &admin.actor()).await?;
    if one.is_some() && replayed == 0 {
        return Err(ApiError::NotFound("No such dead letter".into()));
    }
    Ok(Json(json!({ "replayed": replayed })))
}
