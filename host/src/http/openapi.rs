//! `GET /api/openapi.json`: an OpenAPI 3.1 description of every route this host
//! serves. The host's own routes are documented by the `#[utoipa::path]` on each
//! handler, and registered from that same annotation (`utoipa_axum::routes!`), so a
//! route cannot exist without its description. The modules' routes come from the
//! installed manifests as they are when the document is asked for.

use std::sync::Arc;

use axum::Json;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;
use crate::auth::Role;
use crate::runtime::registry::LoadedModule;

/// The document's frame: what is the same for every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mosaic",
        description = "A multi-tenant platform whose business features are WebAssembly modules. \
            Tenant routes take a bearer access token and name the tenant by its domain, a \
            subdomain of the base domain, or the `X-Tenant-ID` header. Every error is JSON: \
            `{\"error\", \"code\", \"request_id\"}` and what the code adds (`fields` for 422).",
    ),
    modifiers(&Security),
    tags(
        (name = "health", description = "Liveness and metrics"),
        (name = "auth", description = "Sign-up, login, tokens, passwords"),
        (name = "users", description = "A tenant's users"),
        (name = "public", description = "What anyone may read or send without a token"),
        (name = "billing", description = "A tenant's plan, subscription, invoices and payments"),
        (name = "admin", description = "The platform administrators' control plane"),
    )
)]
pub struct Frame;

/// The two ways a request proves itself: a bearer access token, and (for tenant
/// routes) the tenant it is for.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "tenant",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Tenant-ID",
                "The tenant's subdomain or id, when its domain does not say it",
            ))),
        );
    }
}

/// The security requirement of tenant routes: a token and a tenant.
pub fn tenant_security() -> Value {
    json!([{ "bearer": [], "tenant": [] }])
}

/// The JSON every error answers with.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a person"},
            "code": {"type": "string", "description": "What went wrong, for a program: `validation_failed`, `not_found`, ..."},
            "request_id": {"type": ["string", "null"], "description": "The request's id, as in the `x-request-id` header and the logs"},
            "fields": {"description": "422: the problem with each field, by name"},
            "module": {"type": "string", "description": "403 module_not_enabled, plan_upgrade_required: the module"},
            "upgrade": {"type": "boolean"},
            "plan": {"type": ["string", "null"], "description": "403 plan_upgrade_required: the cheapest plan with the module"},
            "retry_after": {"type": "integer", "description": "423, 429: seconds until a try is let through"},
        },
    })
}

/// The host's own routes, as the handlers describe them, with the frame's
/// components and every operation's error answer: serialized once.
pub fn host_document(routes: utoipa::openapi::OpenApi) -> Arc<Value> {
    let mut document = Frame::openapi();
    document.merge(routes);
    let mut value = serde_json::to_value(&document).unwrap_or_default();
    value["components"]["schemas"]["Error"] = error_schema();
    if let Some(paths) = value["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for_each_operation(item, add_error_answer);
        }
    }
    Arc::new(value)
}

/// Every operation may fail, and every failure has the one shape.
fn add_error_answer(operation: &mut Value) {
    let responses = operation["responses"].as_object_mut();
    if let Some(responses) = responses {
        responses.entry("default").or_insert_with(|| {
            json!({
                "description": "An error, in the one JSON shape",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            })
        });
    }
}

fn for_each_operation(item: &mut Value, mut edit: impl FnMut(&mut Value)) {
    if let Some(item) = item.as_object_mut() {
        for (method, operation) in item.iter_mut() {
            if HTTP_METHODS.contains(&method.as_str()) {
                edit(operation);
            }
        }
    }
}

const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// `GET /api/openapi.json`: the host's routes and the installed modules' routes.
pub async fn openapi(state: AppState, host: Arc<Value>) -> Json<Value> {
    let mut document = (*host).clone();
    let mut modules = state.runtime.modules();
    modules.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(paths) = document["paths"].as_object_mut() {
        for module in &modules {
            for (path, item) in module_paths(module) {
                paths.insert(path, item);
            }
        }
    }
    if let Some(tags) = document["tags"].as_array_mut() {
        tags.extend(modules.iter().map(|m| {
            json!({"name": m.key, "description": format!("{} {}: {}", m.manifest.name, m.manifest.version, m.manifest.description)})
        }));
    }
    Json(document)
}

/// A module's routes as OpenAPI path items, `/api/<key><route>`. The manifest says
/// each route's method, pattern and lowest role; bodies are JSON objects whose
/// shape the module's own documentation gives (docs/modules.md for the shipped ones).
fn module_paths(module: &LoadedModule) -> Vec<(String, Value)> {
    let mut paths: Vec<(String, Value)> = Vec::new();
    for route in &module.manifest.routes {
        let path = format!("/api/{}{}", module.key, route.path);
        let method = route.method.to_ascii_lowercase();
        let operation = module_operation(module, &route.path, &route.method, route.min_role);
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, item)) => item[method.as_str()] = operation,
            None => {
                let mut item = Map::new();
                item.insert(method, operation);
                paths.push((path, Value::Object(item)));
            }
        }
    }
    paths
}

fn module_operation(
    module: &LoadedModule,
    pattern: &str,
    method: &str,
    min_role: Option<Role>,
) -> Value {
    let parameters: Vec<Value> = pattern
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({"name": name.trim_start_matches('*'), "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    let role = min_role.map_or("any user of the tenant", Role::as_str);
    let mut operation = json!({
        "tags": [module.key],
        "operationId": format!("{}:{method}:{pattern}", module.key),
        "summary": format!("{method} {pattern} of {}", module.manifest.name),
        "description": format!(
            "Served by the {} module ({}), when the tenant has it switched on (403 `module_not_enabled` otherwise). Lowest role: {role}.",
            module.key, module.manifest.version
        ),
        "x-min-role": min_role.map(Role::as_str),
        "parameters": parameters,
        "security": tenant_security(),
        "responses": {
            "2XX": {"description": "The module's answer"},
        },
    });
    if matches!(method, "POST" | "PUT" | "PATCH") {
        operation["requestBody"] = json!({
            "content": {"application/json": {"schema": {"type": "object"}}},
        });
    }
    add_error_answer(&mut operation);
    operation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_gets_the_error_answer() {
        let mut item = json!({
            "get": {"responses": {"200": {"description": "ok"}}},
            "parameters": [],
        });
        for_each_operation(&mut item, add_error_answer);
        assert_eq!(
            item["get"]["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
        assert!(item["parameters"].is_array());
    }
}
