//! What a tenant shows the public: its configuration (served at
//! `/api/tenants/by-subdomain/<subdomain>/config`, with an ETag) and the static site
//! pages `TenantFiles::deploy_site` exports (a theme stylesheet, an index page).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::runtime::registry::LoadedModule;
use crate::tenancy::{RenderedConfig, Tenant, TenantStatus, TenantView};

/// The public configuration: what a tenant's portal needs to draw itself.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PublicConfig<'a> {
    pub name: &'a str,
    pub subdomain: &'a str,
    pub status: TenantStatus,
    pub plan: &'a str,
    /// Every installed module, and whether the tenant has it switched on.
    pub modules: BTreeMap<&'a str, bool>,
    /// Whether the plan includes each module: one it lacks needs an upgrade.
    pub in_plan: BTreeMap<&'a str, bool>,
    pub theme: Theme<'a>,
    pub logo_url: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Theme<'a> {
    /// `#rrggbb`.
    pub primary_color: Option<&'a str>,
    pub secondary_color: Option<&'a str>,
}

pub fn render_config(view: &TenantView, modules: &[(&LoadedModule, bool)]) -> RenderedConfig {
    let tenant = &view.tenant;
    let body = PublicConfig {
        name: &tenant.name,
        subdomain: &tenant.subdomain,
        status: tenant.status,
        plan: &tenant.plan,
        modules: modules
            .iter()
            .map(|(module, enabled)| (module.key.as_str(), *enabled))
            .collect(),
        in_plan: modules
            .iter()
            .map(|(module, _)| (module.key.as_str(), view.plan_includes(&module.key)))
            .collect(),
        theme: Theme {
            primary_color: tenant.primary_color.as_deref(),
            secondary_color: tenant.secondary_color.as_deref(),
        },
        logo_url: tenant
            .logo
            .as_ref()
            .map(|logo| asset_url(&tenant.subdomain, logo)),
    };
    let json = serde_json::to_string_pretty(&body).unwrap_or_default();
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(json.as_bytes()))[..32]
    );
    RenderedConfig { json, etag }
}

pub fn asset_url(subdomain: &str, path: &str) -> String {
    format!("/api/tenants/by-subdomain/{subdomain}/assets/{path}")
}

const DEFAULT_PRIMARY: &str = "#1f6feb";
const DEFAULT_SECONDARY: &str = "#8b949e";

pub(super) fn theme_css(tenant: &Tenant) -> String {
    // Colours were validated as `#rrggbb` on the way in.
    format!(
        ":root {{\n  --primary: {};\n  --secondary: {};\n}}\n\
         body {{ font-family: system-ui, sans-serif; margin: 2rem; }}\n\
         header {{ border-bottom: 4px solid var(--primary); }}\n\
         .module {{ border-left: 4px solid var(--primary); padding: .5rem 1rem; margin: .5rem 0; }}\n\
         .module.locked {{ border-color: var(--secondary); opacity: .5; }}\n",
        tenant.primary_color.as_deref().unwrap_or(DEFAULT_PRIMARY),
        tenant
            .secondary_color
            .as_deref()
            .unwrap_or(DEFAULT_SECONDARY),
    )
}

pub(super) fn index_html(tenant: &Tenant, modules: &[(&LoadedModule, bool)]) -> String {
    let logo = tenant
        .logo
        .as_ref()
        .map(|logo| format!("<img src=\"{}\" alt=\"\" height=\"48\">", escape(logo)))
        .unwrap_or_default();
    let items: String = modules
        .iter()
        .map(|(module, enabled)| {
            let m = &module.manifest;
            let (class, note) = if *enabled {
                ("module", "")
            } else {
                ("module locked", " <small title=\"Upgrade your plan to unlock this module\">locked: upgrade to unlock</small>")
            };
            format!(
                "    <li class=\"{class}\" data-module=\"{}\"><strong>{}</strong>{note}<br>{}</li>\n",
                escape(&m.key),
                escape(&m.name),
                escape(&m.description),
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n  <title>{name}</title>\n  \
         <link rel=\"stylesheet\" href=\"theme.css\">\n</head>\n<body>\n  <header>{logo}<h1>{name}</h1></header>\n  \
         <ul>\n{items}  </ul>\n</body>\n</html>\n",
        name = escape(&tenant.name),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
