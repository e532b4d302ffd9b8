//! Installed modules: each one's compiled component, pre-linked instance and the
//! manifest its `describe` export returned at install time.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::json;

use super::grant::{Denial, Grant, GrantKind, Permits};
use super::routes::RouteTable;
pub use super::routes::{RouteMatch, RouteMiss};
use super::types::{Cadence, Capability, IndexSpec, Manifest};
use super::wit::ModulePre;
use crate::auth::Role;
use crate::schedules::Schedule;
use crate::store::records::{DeclaredIndex, MAX_INDEXES, UniqueIndex};

/// The platform's core modules: enabled for every tenant, never switched off. This
/// is the host's decision; a manifest claiming `core` for another key is refused.
pub const CORE_MODULES: &[&str] = &["employees", "notifications"];

/// Where a component comes from, which decides the keys it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Shipped with the host (`modules/<key>/`, built to `<key>.wasm`): it must
    /// declare that key, and only these may be core.
    Shipped { key: String },
    /// Any other component: never core, never under a shipped, core or reserved key.
    Extra,
}

/// The `/api/<segment>` prefixes the host serves itself, so no module may take them
/// as its key. A test over the HTTP route table keeps this list complete.
pub const RESERVED_KEYS: &[&str] = &[
    "admin",
    "auth",
    "billing",
    "demo-requests",
    "modules",
    "tenants",
    "users",
];

/// A module version ready to instantiate.
pub struct LoadedModule {
    pub key: String,
    /// One of [`CORE_MODULES`].
    pub core: bool,
    pub manifest: Manifest,
    pub pre: ModulePre,
    pub sha256: String,
    /// Loaded from the compiled-artifact cache rather than compiled.
    pub cached: bool,
    pub unique_indexes: Vec<UniqueIndex>,
    /// Every index of the manifest, unique or not, as the database builds it.
    pub declared_indexes: Vec<DeclaredIndex>,
    routes: RouteTable,
    /// Parsed `manifest.subscriptions`, in the same order.
    subscriptions: Vec<EventPattern>,
    /// The manifest's schedules, checked.
    pub schedules: Vec<Schedule>,
    /// What of its requests it may use; a new grant applies to calls from then on.
    permits: RwLock<Permits>,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("key", &self.key)
            .field("version", &self.manifest.version)
            .finish_non_exhaustive()
    }
}

impl LoadedModule {
    /// Whether it may `modules.call` the module `key`: declared, and granted.
    pub fn may_call(&self, key: &str) -> Result<(), Denial> {
        let declared = self.manifest.dependencies.iter().any(|d| d == key);
        self.permitted(GrantKind::Dependency, key, declared)
    }

    /// Whether it may use `capability`: declared, and granted.
    pub fn may_use(&self, capability: Capability) -> Result<(), Denial> {
        let declared = self.manifest.capabilities.contains(&capability);
        self.permitted(GrantKind::Capability, capability.as_str(), declared)
    }

    fn permitted(&self, kind: GrantKind, item: &str, declared: bool) -> Result<(), Denial> {
        if !declared {
            return Err(Denial::Undeclared);
        }
        match &*read(&self.permits) {
            Permits::Granted(grant) if !grant.allows(kind, item) => Err(Denial::NotGranted),
            _ => Ok(()),
        }
    }

    /// Whether events of `kind` are delivered to this module's `on-event`: one of
    /// its granted subscriptions matches.
    pub fn subscribes_to(&self, kind: &str) -> bool {
        let permits = read(&self.permits);
        self.subscriptions
            .iter()
            .zip(&self.manifest.subscriptions)
            .any(|(pattern, declared)| {
                pattern.matches(kind)
                    && match &*permits {
                        Permits::Declared => true,
                        Permits::Granted(grant) => grant.allows(GrantKind::Subscription, declared),
                    }
            })
    }

    /// From now on it may use only what `grant` allows.
    pub fn set_grant(&self, grant: Grant) {
        *write(&self.permits) = Permits::Granted(grant);
    }

    pub fn permits(&self) -> Permits {
        read(&self.permits).clone()
    }

    pub fn schedule(&self, id: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.id == id)
    }

    pub fn route(&self, method: &str, path: &str) -> Result<RouteMatch, RouteMiss> {
        self.routes.find(method, path)
    }

    /// The manifest as JSON, for the catalog.
    pub fn manifest_json(&self) -> serde_json::Value {
        let m = &self.manifest;
        json!({
            "key": m.key,
            "contract": self.pre.contract_version(),
            "name": m.name,
            "version": m.version,
            "description": m.description,
            "icon": m.icon,
            "core": self.core,
            "sort_order": m.sort_order,
            "routes": m.routes.iter().map(|r| json!({
                "method": r.method,
                "path": r.path,
                "min_role": r.min_role.map(Role::as_str),
            })).collect::<Vec<_>>(),
            "dependencies": m.dependencies,
            "subscriptions": m.subscriptions,
            "capabilities": m.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "schedules": m.schedules.iter().map(|s| match &s.cadence {
                Cadence::Every(seconds) => json!({"id": s.id, "every_seconds": seconds}),
                Cadence::Cron(expression) => json!({"id": s.id, "cron": expression}),
            }).collect::<Vec<_>>(),
        })
    }
}

/// A subscription of the manifest: `*` (every kind), `employee.*` (every kind
/// under `employee.`, at any depth) or one exact kind.
#[derive(Debug, PartialEq, Eq)]
enum EventPattern {
    All,
    Under(String),
    Exactly(String),
}

impl EventPattern {
    fn parse(pattern: &str) -> Result<Self, String> {
        if pattern == "*" {
            return Ok(Self::All);
        }
        let (name, under) = match pattern.strip_suffix(".*") {
            Some(prefix) => (prefix, true),
            None => (pattern, false),
        };
        if !is_event_kind(name) {
            return Err(format!(
                "subscription {pattern:?} is not an event kind, `<prefix>.*` or `*`"
            ));
        }
        Ok(if under {
            Self::Under(format!("{name}."))
        } else {
            Self::Exactly(name.to_owned())
        })
    }

    fn matches(&self, kind: &str) -> bool {
        match self {
            Self::All => true,
            Self::Under(prefix) => kind.starts_with(prefix.as_str()),
            Self::Exactly(exact) => kind == exact,
        }
    }
}

/// An event kind: dotted words of `a-z`, `0-9`, `_` and `-`, at most 100 bytes.
pub fn is_event_kind(kind: &str) -> bool {
    kind.len() <= 100
        && kind.split('.').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
        })
}

/// A module key someone else holds (a module the host ships).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyTaken(pub String);

/// Why a component's manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    KeyTaken(#[from] KeyTaken),
    #[error("{0}")]
    Invalid(String),
}

impl From<String> for LoadError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

/// Validates a manifest and builds the module's route table and unique indexes.
pub fn load(
    manifest: Manifest,
    pre: ModulePre,
    sha256: String,
    cached: bool,
    provenance: &Provenance,
) -> Result<LoadedModule, LoadError> {
    let key = manifest.key.clone();
    let key_ok = !key.is_empty()
        && key.len() <= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !key_ok || RESERVED_KEYS.contains(&key.as_str()) {
        return Err(format!("module key {key:?} is not allowed").into());
    }
    let shipped_key = crate::BUILTIN_MODULES.contains(&key.as_str());
    let core_key = CORE_MODULES.contains(&key.as_str());
    match provenance {
        Provenance::Shipped { key: expected } if *expected != key => {
            return Err(format!(
                "the shipped module {expected} declares the key {key:?}; a shipped module keeps its own key"
            )
            .into());
        }
        Provenance::Extra if shipped_key || core_key => {
            return Err(KeyTaken(format!(
                "Module key {key:?} belongs to a module the host ships; choose another key"
            ))
            .into());
        }
        _ => {}
    }
    let core = core_key && matches!(provenance, Provenance::Shipped { .. });
    if manifest.core && !core {
        return Err(
            format!("module {key} declares itself core; only platform modules are core").into(),
        );
    }
    let routes = RouteTable::build(&manifest.routes)?;
    let subscriptions = manifest
        .subscriptions
        .iter()
        .map(|p| EventPattern::parse(p))
        .collect::<Result<_, _>>()?;
    let schedules: Vec<Schedule> = manifest
        .schedules
        .iter()
        .map(Schedule::parse)
        .collect::<Result<_, _>>()?;
    if let Some(twice) = schedules
        .iter()
        .enumerate()
        .find(|(i, s)| schedules[..*i].iter().any(|t| t.id == s.id))
    {
        return Err(format!("schedule id {} is declared twice", twice.1.id).into());
    }
    let unique_indexes = manifest
        .indexes
        .iter()
        .filter(|i| i.unique)
        .map(|i| UniqueIndex {
            collection: i.collection.clone(),
            fields: i.fields.clone(),
        })
        .collect();
    let declared_indexes = declared_indexes(&key, &manifest.indexes);
    Ok(LoadedModule {
        key,
        core,
        manifest,
        pre,
        sha256,
        cached,
        unique_indexes,
        declared_indexes,
        routes,
        subscriptions,
        schedules,
        permits: RwLock::new(Permits::Declared),
    })
}

/// The indexes the database builds for a manifest: at most [`MAX_INDEXES`], on
/// collections and fields SQL can name. Others are left unbuilt, with a warning,
/// rather than refused: a unique one is still enforced (`record_keys`), and a
/// module installed before this check still loads.
fn declared_indexes(key: &str, indexes: &[IndexSpec]) -> Vec<DeclaredIndex> {
    if indexes.len() > MAX_INDEXES {
        tracing::warn!(
            module = key,
            declared = indexes.len(),
            "only the first {MAX_INDEXES} declared indexes are built"
        );
    }
    indexes
        .iter()
        .take(MAX_INDEXES)
        .filter_map(
            |i| match DeclaredIndex::new(key, &i.collection, &i.fields) {
                Ok(index) => Some(index),
                Err(err) => {
                    tracing::warn!(module = key, %err, "a declared index is not built");
                    None
                }
            },
        )
        .collect()
}

/// The installed modules by key: the version each key serves, and the other
/// versions some tenant is pinned to. A new install of a key replaces its current.
#[derive(Default)]
pub struct Registry {
    current: RwLock<HashMap<String, Arc<LoadedModule>>>,
    /// (key, version) of versions loaded for pinned tenants, besides the current.
    pinned: RwLock<HashMap<(String, String), Arc<LoadedModule>>>,
}

impl Registry {
    pub fn get(&self, key: &str) -> Option<Arc<LoadedModule>> {
        read(&self.current).get(key).cloned()
    }

    /// The version a tenant pinned to `pinned` gets: that one while it is loaded,
    /// else the current.
    pub fn resolve(&self, key: &str, pinned: Option<&str>) -> Option<Arc<LoadedModule>> {
        if let Some(version) = pinned
            && let Some(module) = read(&self.pinned).get(&(key.to_owned(), version.to_owned()))
        {
            return Some(module.clone());
        }
        self.get(key)
    }

    pub fn insert(&self, module: Arc<LoadedModule>) {
        write(&self.current).insert(module.key.clone(), module);
    }

    /// Keeps exactly `versions` of `key` loaded for pinned tenants.
    pub fn set_pinned(&self, key: &str, versions: Vec<Arc<LoadedModule>>) {
        let mut pinned = write(&self.pinned);
        pinned.retain(|(k, _), _| k != key);
        for module in versions {
            pinned.insert((key.to_owned(), module.manifest.version.clone()), module);
        }
    }

    /// Whether `module` is a version some tenant is pinned to.
    pub fn is_pinned(&self, module: &Arc<LoadedModule>) -> bool {
        read(&self.pinned).values().any(|m| Arc::ptr_eq(m, module))
    }

    /// Every loaded version of `key`: the current first.
    pub fn versions(&self, key: &str) -> Vec<Arc<LoadedModule>> {
        let pinned = read(&self.pinned);
        self.get(key)
            .into_iter()
            .chain(
                pinned
                    .iter()
                    .filter(|((k, _), _)| k == key)
                    .map(|(_, m)| m.clone()),
            )
            .collect()
    }

    pub fn remove(&self, key: &str) {
        write(&self.current).remove(key);
        write(&self.pinned).retain(|(k, _), _| k != key);
    }

    pub fn all(&self) -> Vec<Arc<LoadedModule>> {
        let mut all: Vec<_> = read(&self.current).values().cloned().collect();
        all.sort_by_key(|m| (m.manifest.sort_order, m.key.clone()));
        all
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::{EventPattern, IndexSpec, MAX_INDEXES, declared_indexes};

    #[test]
    fn only_indexes_sql_can_name_are_built_and_no_more_than_the_most() {
        let index = |collection: &str, fields: &[&str]| IndexSpec {
            collection: collection.into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            unique: false,
        };
        let declared = [
            index("people", &["address.city"]),
            index("people", &["x') --"]),
            index("People!", &["a"]),
            index("people", &["a", "b"]),
        ];
        let built = declared_indexes("m", &declared);
        assert_eq!(built.len(), 2);
        assert!(built.iter().all(|i| i.collection == "people"));
        let many = vec![index("people", &["a"]); MAX_INDEXES + 1];
        assert_eq!(declared_indexes("m", &many).len(), MAX_INDEXES);
    }

    #[test]
    fn subscriptions_match_kinds() {
        let under = EventPattern::parse("employee.*").unwrap();
        assert!(under.matches("employee.created"));
        assert!(under.matches("employee.salary.changed"));
        assert!(!under.matches("employees.created"));
        assert!(!under.matches("employee"));
        let exact = EventPattern::parse("task.assigned").unwrap();
        assert!(exact.matches("task.assigned"));
        assert!(!exact.matches("task.assigned.again"));
        assert!(EventPattern::parse("*").unwrap().matches("anything.at.all"));
        for bad in [
            "",
            "employee.",
            "*.created",
            "employee.**",
            "Employee.*",
            "a..b",
        ] {
            assert!(EventPattern::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
