//! Tenants and how a request finds its own: custom domain, then subdomain of the
//! base domain, then the `X-Tenant-ID` header. Resolved tenants are cached with their
//! enabled modules; every change invalidates the entry, so the next request on this
//! replica reloads it from the database.

pub mod replicas;
pub mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;

// The tenant row lives in the store; re-exported because the request path knows it
// as part of tenancy.
use crate::store::plans::Plan;
use crate::store::{Db, DbResult, SubscriptionState};
pub use crate::store::{Tenant, TenantStatus};

/// A tenant's public configuration, rendered once per cached view.
#[derive(Debug)]
pub struct RenderedConfig {
    pub json: String,
    /// A strong validator of `json`.
    pub etag: String,
}

/// A tenant as the request path sees it: itself and the modules it has enabled.
#[derive(Debug)]
pub struct TenantView {
    pub tenant: Tenant,
    /// Where its subscription stands: an expired one keeps it out of its modules.
    pub subscription: Option<SubscriptionState>,
    /// Its plan, with the limits the request path and host calls enforce (none if
    /// the plan is gone from the catalog); a plan edit reloads the view.
    pub plan: Option<Plan>,
    enabled: HashSet<String>,
    /// Enabled modules held on one version: module key → version.
    pinned: HashMap<String, String>,
    /// Modules some plan sells and its plan does not.
    outside_plan: HashSet<String>,
    /// Filled on first use; a change to the tenant replaces the whole view.
    pub config: OnceLock<Arc<RenderedConfig>>,
}

impl TenantView {
    /// The view of `tenant`, with its enabled `modules` (key, pinned version), under
    /// the plan catalog `plans`.
    fn new(
        tenant: Tenant,
        modules: Vec<(String, Option<String>)>,
        subscription: Option<SubscriptionState>,
        plans: &[Plan],
    ) -> Self {
        let mut enabled = HashSet::new();
        let mut pinned = HashMap::new();
        for (module, version) in modules {
            if let Some(version) = version {
                pinned.insert(module.clone(), version);
            }
            enabled.insert(module);
        }
        let outside_plan = plans
            .iter()
            .flat_map(|p| p.modules.iter())
            .filter(|m| !crate::billing::allows(plans, &tenant.plan, m))
            .cloned()
            .collect();
        let plan = plans.iter().find(|p| p.key == tenant.plan).cloned();
        Self {
            tenant,
            subscription,
            plan,
            enabled,
            pinned,
            outside_plan,
            config: OnceLock::new(),
        }
    }

    /// Whether the tenant switched `module` on (core modules are on regardless).
    pub fn has_enabled(&self, module: &str) -> bool {
        self.enabled.contains(module)
    }

    /// The version of `module` the tenant is pinned to, if any.
    pub fn pinned_version(&self, module: &str) -> Option<&str> {
        self.pinned.get(module).map(String::as_str)
    }

    /// Whether its plan includes `module` (one no plan sells is in every plan).
    pub fn plan_includes(&self, module: &str) -> bool {
        !self.outside_plan.contains(module)
    }
}

/// Subdomains no tenant may take.
pub const RESERVED_SUBDOMAINS: &[&str] = &[
    "www",
    "api",
    "admin",
    "app",
    "mail",
    "static",
    "assets",
    "cdn",
    "status",
    "docs",
    "help",
    // Static admin routes under /api/admin/tenants/ would shadow these.
    "statistics",
    "bulk-create",
    "bulk-update-modules",
];

/// The time zone named `name` (IANA, e.g. `Europe/Paris`), from jiff's bundled
/// database: the one modules have, so the host and every module agree on what a
/// tenant's zone means whatever this machine's `/usr/share/zoneinfo` holds.
pub fn zone(name: &str) -> Option<jiff::tz::TimeZone> {
    static BUNDLED: std::sync::OnceLock<jiff::tz::TimeZoneDatabase> = std::sync::OnceLock::new();
    BUNDLED
        .get_or_init(jiff::tz::TimeZoneDatabase::bundled)
        .get(name)
        .ok()
}

/// `name` as the bundled database spells it (`europe/paris` → `Europe/Paris`), or
/// none for a zone it does not have.
pub fn canonical_zone(name: &str) -> Option<String> {
    let zone = zone(name)?;
    Some(zone.iana_name().unwrap_or(name).to_owned())
}

/// Whether `s` may be a tenant subdomain: a lower-case DNS label, not reserved, and
/// not shaped like a tenant id (so the two can never be confused).
pub fn valid_subdomain(s: &str) -> Result<(), &'static str> {
    let label_ok = (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !label_ok {
        Err("must be 1 to 63 lower-case letters, digits or inner hyphens")
    } else if s.starts_with("xn--") {
        // Punycode: a look-alike of another tenant's name in another script.
        Err("must not be an internationalised (xn--) name")
    } else if RESERVED_SUBDOMAINS.contains(&s) || is_tenant_id(s) {
        Err("is reserved")
    } else {
        Ok(())
    }
}

/// Tenant ids are UUIDs; anything else names a tenant by subdomain.
pub fn is_tenant_id(key: &str) -> bool {
    uuid::Uuid::try_parse(key).is_ok()
}

/// Where the request said its tenant is.
#[derive(Debug, Clone, Copy)]
pub struct TenantHint<'a> {
    pub host: Option<&'a str>,
    pub header: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing in the request names a tenant.
    Unspecified,
    /// The request names a tenant that does not exist.
    Unknown,
}

/// The tenant cache and resolver.
pub struct Directory {
    db: Db,
    base_domain: Option<String>,
    views: DashMap<String, Arc<TenantView>>,
    /// Subdomain → tenant id. An entry may outlive its tenant for a moment; a
    /// lookup checks the view it leads to and forgets an entry that misleads.
    subdomains: DashMap<String, String>,
    /// Tenant id → the subdomain cached for it, so forgetting a tenant is one lookup.
    subdomain_of_tenant: DashMap<String, String>,
    /// Custom domain → tenant id.
    domains: DashMap<String, String>,
    /// Tenant id → its custom domains, so a refresh touches only its own.
    domains_of_tenant: DashMap<String, Vec<String>>,
    /// Bumped by every invalidation, so a view loaded before one is never cached.
    invalidations: std::sync::atomic::AtomicU64,
}

impl Directory {
    /// Loads the custom domains; tenants load lazily.
    pub async fn load(db: Db, base_domain: Option<String>) -> DbResult<Self> {
        let domains = DashMap::new();
        let domains_of_tenant: DashMap<String, Vec<String>> = DashMap::new();
        for (domain, tenant_id) in db.all_tenant_domains().await? {
            domains_of_tenant
                .entry(tenant_id.clone())
                .or_default()
                .push(domain.clone());
            domains.insert(domain, tenant_id);
        }
        Ok(Self {
            db,
            base_domain: base_domain.map(|d| d.trim_start_matches('.').to_ascii_lowercase()),
            views: DashMap::new(),
            subdomains: DashMap::new(),
            subdomain_of_tenant: DashMap::new(),
            domains,
            domains_of_tenant,
            invalidations: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The platform's domain, under which tenants are `<subdomain>.<base>`.
    pub fn base_domain(&self) -> Option<&str> {
        self.base_domain.as_deref()
    }

    pub async fn resolve(
        &self,
        hint: TenantHint<'_>,
    ) -> DbResult<Result<Arc<TenantView>, Resolution>> {
        let host = hint.host.map(|h| {
            let h = h.rsplit_once(':').map_or(h, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    h
                }
            });
            h.trim_end_matches('.').to_ascii_lowercase()
        });
        if let Some(host) = &host {
            if let Some(id) = self.domains.get(host).map(|e| e.value().clone()) {
                return self.by_id(&id).await.map(|v| v.ok_or(Resolution::Unknown));
            }
            if let Some(sub) = self.subdomain_of(host) {
                return self
                    .by_subdomain(sub)
                    .await
                    .map(|v| v.ok_or(Resolution::Unknown));
            }
        }
        match hint.header.map(str::trim).filter(|h| !h.is_empty()) {
            None => Ok(Err(Resolution::Unspecified)),
            Some(key) => self
                .by_key(&key.to_ascii_lowercase())
                .await
                .map(|v| v.ok_or(Resolution::Unknown)),
        }
    }

    /// `acme` for `acme.<base domain>`; none for the base domain itself or deeper names.
    fn subdomain_of<'h>(&self, host: &'h str) -> Option<&'h str> {
        let base = self.base_domain.as_deref()?;
        let label = host.strip_suffix(base)?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }

    /// A tenant named by id (a UUID) or by subdomain.
    pub async fn by_key(&self, key: &str) -> DbResult<Option<Arc<TenantView>>> {
        if is_tenant_id(key) {
            self.by_id(key).await
        } else {
            self.by_subdomain(key).await
        }
    }

    pub async fn by_subdomain(&self, subdomain: &str) -> DbResult<Option<Arc<TenantView>>> {
        // What cannot be a subdomain (a NUL byte above all, which PostgreSQL refuses
        // as text) is unknown without asking the database.
        let plausible = subdomain.len() <= 63
            && subdomain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !plausible {
            return Ok(None);
        }
        if let Some(id) = self.subdomains.get(subdomain).map(|e| e.value().clone()) {
            match self.by_id(&id).await? {
                Some(view) if view.tenant.subdomain == subdomain => return Ok(Some(view)),
                // The tenant is gone (its subdomain may be someone else's now).
                _ => {
                    self.subdomains
                        .remove_if(subdomain, |_, cached| *cached == id);
                }
            }
        }
        let seen = self.invalidations.load(Ordering::Acquire);
        match self.db.tenant_by_subdomain(subdomain).await? {
            Some(tenant) => {
                if self.invalidations.load(Ordering::Acquire) == seen {
                    self.subdomain_of_tenant
                        .insert(tenant.id.clone(), tenant.subdomain.clone());
                    self.subdomains
                        .insert(tenant.subdomain.clone(), tenant.id.clone());
                }
                self.load_view(tenant, seen).await.map(Some)
            }
            None => Ok(None),
        }
    }

    pub async fn by_id(&self, id: &str) -> DbResult<Option<Arc<TenantView>>> {
        if let Some(view) = self.views.get(id) {
            return Ok(Some(view.clone()));
        }
        let seen = self.invalidations.load(Ordering::Acquire);
        match self.db.tenant_by_id(id).await? {
            Some(tenant) => self.load_view(tenant, seen).await.map(Some),
            None => Ok(None),
        }
    }

    /// Loads the tenant's modules and caches the view, unless an invalidation came
    /// after `seen`: the view may predate it, so it serves this request only.
    async fn load_view(&self, tenant: Tenant, seen: u64) -> DbResult<Arc<TenantView>> {
        let modules = self.db.enabled_modules(&tenant.id).await?;
        let subscription = self.db.subscription(&tenant.id).await?.map(|s| s.state);
        let plans = self.db.plans(true).await?;
        let view = Arc::new(TenantView::new(tenant, modules, subscription, &plans));
        self.cache_view(view.clone(), seen);
        Ok(view)
    }

    /// Caches the views of all tenants at once, in four statements rather than four
    /// per tenant: for a replica about to look at every tenant (the scheduler's
    /// first reconcile), which would otherwise load them one by one.
    pub async fn preload(&self) -> DbResult<()> {
        let seen = self.invalidations.load(Ordering::Acquire);
        // Tenants first, as `by_id` reads them: a change committed meanwhile leaves a
        // view with the older generation, which the replica sync then reloads.
        let tenants = self.db.all_tenants().await?;
        let mut modules: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for (tenant_id, module, pinned) in self.db.all_enabled_modules().await? {
            modules.entry(tenant_id).or_default().push((module, pinned));
        }
        let mut subscriptions: HashMap<String, SubscriptionState> = self
            .db
            .all_subscriptions()
            .await?
            .into_iter()
            .map(|(tenant_id, s)| (tenant_id, s.state))
            .collect();
        let plans = self.db.plans(true).await?;
        for tenant in tenants {
            let modules = modules.remove(&tenant.id).unwrap_or_default();
            let subscription = subscriptions.remove(&tenant.id);
            let view = TenantView::new(tenant, modules, subscription, &plans);
            self.cache_view(Arc::new(view), seen);
        }
        Ok(())
    }

    /// Caches `view`, unless an invalidation came after `seen`.
    fn cache_view(&self, view: Arc<TenantView>, seen: u64) {
        // Checked and cached under the entry's lock, which `invalidate` takes after
        // counting: either this sees the invalidation and caches nothing, or the
        // invalidation removes what this cached. A stale view is never visible
        // after `invalidate` returns, not even for an instant.
        let entry = self.views.entry(view.tenant.id.clone());
        if self.invalidations.load(Ordering::SeqCst) == seen {
            entry.insert(view);
        }
    }

    /// Forgets the cached tenant: the next request reloads it. Returns the view
    /// that was cached, if any.
    pub fn invalidate(&self, tenant_id: &str) -> Option<Arc<TenantView>> {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        let previous = self.views.remove(tenant_id).map(|(_, view)| view);
        if let Some((_, subdomain)) = self.subdomain_of_tenant.remove(tenant_id) {
            self.subdomains
                .remove_if(&subdomain, |_, cached| cached == tenant_id);
        }
        previous
    }

    /// The generation of the tenant's cached view, if one is cached.
    pub fn cached_generation(&self, tenant_id: &str) -> Option<i64> {
        self.views.get(tenant_id).map(|view| view.tenant.generation)
    }

    /// Forgets the cached tenant and reloads its custom domains: what a change made
    /// anywhere (this replica, another one, the CLI) calls for. The domains it keeps
    /// answer throughout; only those it lost stop. Returns the view that was cached.
    pub async fn refresh(&self, tenant_id: &str) -> DbResult<Option<Arc<TenantView>>> {
        let previous = self.invalidate(tenant_id);
        let domains = self.db.tenant_domains(tenant_id).await?;
        for domain in &domains {
            self.domains.insert(domain.clone(), tenant_id.to_owned());
        }
        let gone = if domains.is_empty() {
            self.domains_of_tenant.remove(tenant_id).map(|(_, d)| d)
        } else {
            self.domains_of_tenant
                .insert(tenant_id.to_owned(), domains.clone())
        };
        for domain in gone.unwrap_or_default() {
            if !domains.contains(&domain) {
                self.domains.remove_if(&domain, |_, id| id == tenant_id);
            }
        }
        Ok(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a view says of its tenant, to compare two views.
    fn described(view: &TenantView) -> impl PartialEq + std::fmt::Debug {
        (
            format!("{:?} {:?} {:?}", view.tenant, view.subscription, view.plan),
            view.enabled.clone(),
            view.pinned.clone(),
            view.outside_plan.clone(),
        )
    }

    #[tokio::test]
    async fn preloaded_views_are_the_views_loaded_one_by_one() {
        let (db, _) = crate::store::scratch_database("preload").await;
        sqlx::raw_sql(
            "INSERT INTO tenants (id, name, subdomain, status, plan, generation, created_at, updated_at) VALUES \
               ('t1', 'One', 'one', 'active', 'starter', 3, 0, 0), \
               ('t2', 'Two', 'two', 'suspended', 'business', 1, 0, 0), \
               ('t3', 'Three', 'three', 'active', 'starter', 0, 0, 0); \
             INSERT INTO tenant_modules (tenant_id, module_key, enabled, pinned_version, updated_at) VALUES \
               ('t1', 'wallet', 1, '1.0.0', 0), ('t1', 'tasks', 1, NULL, 0), \
               ('t1', 'shifts', 0, NULL, 0), ('t2', 'tasks', 1, NULL, 0); \
             INSERT INTO subscriptions (tenant_id, state, created_at, updated_at) VALUES \
               ('t1', 'expired', 0, 0), ('t2', 'active', 0, 0);",
        )
        .execute(&db.pool)
        .await
        .expect("tenants");

        let preloaded = Directory::load(db.clone(), None).await.expect("loaded");
        preloaded.preload().await.expect("preloaded");
        assert_eq!(preloaded.views.len(), 3, "every tenant cached");
        let one_by_one = Directory::load(db, None).await.expect("loaded");
        for id in ["t1", "t2", "t3"] {
            let cached = preloaded.views.get(id).expect("cached").clone();
            let loaded = one_by_one.by_id(id).await.expect("read").expect("a tenant");
            assert_eq!(described(&cached), described(&loaded), "{id}");
        }
        let t1 = preloaded.by_id("t1").await.expect("read").expect("t1");
        assert!(t1.has_enabled("wallet") && !t1.has_enabled("shifts"));
        assert_eq!(t1.pinned_version("wallet"), Some("1.0.0"));
        assert_eq!(t1.subscription, Some(SubscriptionState::Expired));
    }

    #[test]
    fn subdomains_are_dns_labels_and_not_reserved() {
        assert!(valid_subdomain("acme").is_ok());
        assert!(valid_subdomain("acme-2").is_ok());
        assert!(valid_subdomain("Acme").is_err());
        assert!(valid_subdomain("-acme").is_err());
        assert!(valid_subdomain("ac.me").is_err());
        assert!(valid_subdomain("").is_err());
        assert!(valid_subdomain("www").is_err());
        assert!(valid_subdomain(&"a".repeat(64)).is_err());
        assert!(valid_subdomain("01a20da8-2c5f-73d2-8528-77d8a49fc72b").is_err());
    }
}
