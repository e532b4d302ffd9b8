//! `/api/billing/`: what tenants see of billing: the public plan catalog, and the
//! tenant's own subscription.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::TenantCaller;
use crate::AppState;
use crate::auth::Role;
use crate::billing::SubscriptionStatus;
use crate::http::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/billing/plans", get(plans))
        .route("/api/billing/plans/", get(plans))
        .route("/api/billing/subscription", get(subscription))
        .route("/api/billing/subscription/", get(subscription))
}

/// Every plan that takes subscribers, in sort order: price, period, modules and
/// limits. Public, for a pricing page.
async fn plans(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": state.db.plans(false).await? })))
}

/// The tenant's plan and subscription (tenant admins): state, the times that move
/// it, and the days left.
async fn subscription(
    State(state): State<AppState>,
    auth: TenantCaller,
) -> Result<Json<Value>, ApiError> {
    if auth.caller.role < Role::TenantAdmin {
        return Err(ApiError::Forbidden(
            "Only tenant admins see the subscription".into(),
        ));
    }
    let tenant = &auth.tenant.tenant;
    let subscription = state
        .db
        .subscription(&tenant.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("The tenant has no subscription".into()))?;
    let plan = state.db.plan(&tenant.plan).await?;
    let status = SubscriptionStatus::new(plan, subscription, state.config.clock.now_ms());
    Ok(Json(json!(status)))
}
