//! What anyone may read or send without a token: the module catalog, each tenant's
//! public configuration and assets, and the demo-request form.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::extract::JsonBody;
use crate::AppState;
use crate::provisioning::AssetRefusal;
use crate::store::NewDemoRequest;
use crate::store::plans::Plan;
use crate::tenancy::{TenantStatus, TenantView};

pub fn router() -> OpenApiRouter<AppState> {
    // The same routes with or without the trailing slash, undocumented.
    let aliases = axum::Router::new()
        .route("/api/modules", get(catalog))
        .route("/api/tenants/by-subdomain/{subdomain}/config", get(config))
        .route("/api/demo-requests/", post(demo_request));
    // An asset's path has any number of segments, which OpenAPI cannot say: the
    // route is the wildcard, its description names one parameter.
    let assets = axum::Router::new().route(
        "/api/tenants/by-subdomain/{subdomain}/assets/{*path}",
        get(asset),
    );
    let mut router = OpenApiRouter::new()
        .routes(routes!(catalog))
        .routes(routes!(config))
        .routes(routes!(demo_request))
        .merge(aliases.into())
        .merge(assets.into());
    router.get_openapi_mut().merge(AssetRoute::openapi());
    router
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(asset))]
struct AssetRoute;

/// A module of the catalog.
#[derive(serde::Serialize, ToSchema)]
struct CatalogEntry {
    key: String,
    name: String,
    description: String,
    icon: String,
    version: String,
    /// The contract version it was built against.
    contract: &'static str,
    core: bool,
    sort_order: u32,
    /// The plans taking subscribers that include it; none when every plan does.
    plans: Option<Vec<String>>,
}

/// Every installed module, in the catalog's order, with the plans that include it
/// (`null`: every plan).
#[utoipa::path(
    get, path = "/api/modules/", tag = "public",
    responses((status = 200, body = super::billing::Items<CatalogEntry>)),
)]
async fn catalog(
    State(state): State<AppState>,
) -> Result<Json<super::billing::Items<CatalogEntry>>, ApiError> {
    let plans = state.db.plans(false).await?;
    let all_plans = state.db.plans(true).await?;
    let mut modules = state.runtime.modules();
    modules.sort_by(|a, b| (a.manifest.sort_order, &a.key).cmp(&(b.manifest.sort_order, &b.key)));
    let items = modules
        .iter()
        .map(|m| CatalogEntry {
            key: m.key.clone(),
            name: m.manifest.name.clone(),
            description: m.manifest.description.clone(),
            icon: m.manifest.icon.clone(),
            version: m.manifest.version.clone(),
            contract: m.pre.contract_version(),
            core: m.core,
            sort_order: m.manifest.sort_order,
            plans: sold_in(&plans, &all_plans, &m.key),
        })
        .collect();
    Ok(Json(super::billing::Items { items }))
}

/// The plans taking subscribers that include `module`, or None when every plan
/// does: no plan, retired ones included, sells it (core modules are never sold).
fn sold_in(plans: &[Plan], all_plans: &[Plan], module: &str) -> Option<Vec<String>> {
    let lists = |p: &Plan| p.modules.iter().any(|m| m == module);
    all_plans.iter().any(lists).then(|| {
        plans
            .iter()
            .filter(|p| lists(p))
            .map(|p| p.key.clone())
            .collect()
    })
}

/// An active tenant's public face. A pending, suspended or archived one answers
/// as unknown: its status is the company's business, not its visitors'.
async fn tenant_by_subdomain(
    state: &AppState,
    subdomain: &str,
) -> Result<std::sync::Arc<TenantView>, ApiError> {
    let view = state
        .directory
        .by_subdomain(subdomain)
        .await?
        .filter(|view| view.tenant.status == TenantStatus::Active)
        .ok_or_else(|| ApiError::NotFound("Unknown tenant".into()))?;
    state
        .throttle
        .visitor(&view.tenant.id, super::client_addr())?;
    Ok(view)
}

/// The tenant's `config.json`, rendered once per change, with an ETag so a portal
/// revalidates for the price of a 304. A tenant that is not active is unknown.
#[utoipa::path(
    get, path = "/api/tenants/by-subdomain/{subdomain}/config/", tag = "public",
    params(("subdomain" = String, Path, description = "The tenant's subdomain")),
    responses(
        (status = 200, body = crate::provisioning::PublicConfig),
        (status = 304, description = "The `If-None-Match` ETag is current"),
    ),
)]
async fn config(
    State(state): State<AppState>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = tenant_by_subdomain(&state, &subdomain).await?;
    let config = state.provisioner().config(&view);
    let etag = HeaderValue::from_str(&config.etag).map_err(ApiError::internal)?;
    let cache = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == config.etag
        });
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        config.json.clone(),
    )
        .into_response())
}

/// A file from the tenant's own folder (its logo, its exported site), and nothing
/// outside it.
#[utoipa::path(
    get, path = "/api/tenants/by-subdomain/{subdomain}/assets/{path}", tag = "public",
    params(
        ("subdomain" = String, Path, description = "The tenant's subdomain"),
        ("path" = String, Path, description = "A plain relative path in the tenant's folder"),
    ),
    responses((status = 200, description = "The file, with its type", content_type = "application/octet-stream", body = Vec<u8>)),
)]
async fn asset(
    State(state): State<AppState>,
    Path((subdomain, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = tenant_by_subdomain(&state, &subdomain).await?;
    let files = state.files.clone();
    let subdomain = view.tenant.subdomain.clone();
    let read = tokio::task::spawn_blocking(move || files.read_asset(&subdomain, &path))
        .await
        .map_err(ApiError::internal)?;
    let asset = match read {
        Ok(asset) => asset,
        Err(AssetRefusal::Forbidden) => {
            return Err(ApiError::Forbidden(
                "Asset paths stay inside the tenant's folder".into(),
            ));
        }
        Err(AssetRefusal::NotFound) => return Err(ApiError::NotFound("No such asset".into())),
    };
    let content_type = HeaderValue::from_str(&asset.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // Tenant files are shown, never run, on the API's origin.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; img-src 'self'; style-src 'self'; sandbox",
                ),
            ),
        ],
        asset.bytes,
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DemoRequestForm {
    company: String,
    contact_name: String,
    email: String,
    #[serde(default)]
    message: String,
}

#[derive(serde::Serialize, ToSchema)]
struct DemoRequested {
    id: String,
    /// `new`.
    status: String,
    message: &'static str,
}

/// Asks for a demo; a platform admin may turn the request into a tenant.
#[utoipa::path(
    post, path = "/api/demo-requests", tag = "public",
    request_body = DemoRequestForm,
    responses((status = 201, body = DemoRequested)),
)]
async fn demo_request(
    State(state): State<AppState>,
    JsonBody(form): JsonBody<DemoRequestForm>,
) -> Result<(StatusCode, Json<DemoRequested>), ApiError> {
    let mut problems = serde_json::Map::new();
    let company = form.company.trim();
    let contact_name = form.contact_name.trim();
    let email = form.email.trim().to_lowercase();
    let message = form.message.trim();
    for (field, value) in [("company", company), ("contact_name", contact_name)] {
        if !crate::auth::valid_name(value) {
            problems.insert(field.into(), json!("must be 1 to 200 characters"));
        }
    }
    if !crate::auth::valid_email(&email) {
        problems.insert("email".into(), json!("must be a valid email address"));
    }
    if message.chars().count() > 5000 {
        problems.insert("message".into(), json!("must be at most 5000 characters"));
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(Value::Object(problems)));
    }
    // After validation: a form with a typo does not cost the sender a try.
    let ip = super::client_addr();
    state.throttle.demo_request(ip)?;
    let ip_text = ip.map(|ip| ip.to_string());
    let request = state
        .db
        .insert_demo_request(&NewDemoRequest {
            company,
            contact_name,
            email: &email,
            message,
            ip: ip_text.as_deref(),
        })
        .await?;
    tracing::info!(demo_request = %request.id, "demo requested");
    Ok((
        StatusCode::CREATED,
        Json(DemoRequested {
            id: request.id,
            status: request.status,
            message: "Thank you. We will be in touch to set up your demo.",
        }),
    ))
}
