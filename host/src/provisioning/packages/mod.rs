//! The life of a module installed at runtime: upload (validated before anything
//! changes), grant, upgrade, rollback, pins and uninstall. The database is the
//! truth; each replica follows it (`sync.rs`) and a restart reloads it.

mod signing;
mod sync;

pub use signing::{PackageSettings, parse_publisher_key};

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::{Actor, Provisioner};
use crate::runtime::Provenance;
use crate::runtime::grant::{Grant, GrantKind, Request, requests};
use crate::runtime::registry::{KeyTaken, LoadedModule};
use crate::store::packages::{NewPackage, PackageInfo, Release, Stored, UploadRefusal};

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("The component is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    KeyTaken(String),
    #[error(
        "Version {version} of {key} is installed already with other bytes: give the new build a new version"
    )]
    VersionExists { key: String, version: String },
    #[error("This platform installs signed modules only: send the publisher's signature")]
    SignatureRequired,
    #[error("The signature matches no trusted publisher key")]
    BadSignature,
    #[error("Unknown module {0}")]
    UnknownModule(String),
    #[error("Module {key} has no version {version}")]
    UnknownVersion { key: String, version: String },
    #[error("Module {0} ships with the host: it is not installed, granted or removed at runtime")]
    Shipped(String),
    #[error("{0}")]
    Refused(String),
    #[error("Module {key} is enabled for {tenants} tenant(s): disable it everywhere first")]
    InUse { key: String, tenants: i64 },
    #[error(transparent)]
    Provision(#[from] super::ProvisionError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("Loading a stored module: {0:#}")]
    Load(anyhow::Error),
}

/// An upload's outcome.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Installed {
    pub key: String,
    pub version: String,
    pub sha256: String,
    pub contract: String,
    pub size_bytes: usize,
    pub publisher: Option<String>,
    /// `active`: it serves now; `awaiting_grant`: a platform admin must decide
    /// `undecided` first; `stored`: kept, for a rollback or a pin.
    pub state: &'static str,
    /// The same bytes were installed already.
    pub unchanged: bool,
    pub requests: Vec<RequestView>,
    pub undecided: Vec<RequestView>,
}

/// One request of a manifest, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub kind: GrantKind,
    pub item: String,
}

fn views(requests: &[Request]) -> Vec<RequestView> {
    requests
        .iter()
        .map(|(kind, item)| RequestView {
            kind: *kind,
            item: item.clone(),
        })
        .collect()
}

/// What a platform admin allows of a module's requests; the rest of what its
/// current and pending versions request is refused.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantChoice {
    /// Everything the current and pending versions request.
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

impl GrantChoice {
    fn allowed(&self) -> BTreeSet<Request> {
        let of = |kind: GrantKind, items: &[String]| {
            items
                .iter()
                .map(move |item| (kind, item.clone()))
                .collect::<Vec<_>>()
        };
        of(GrantKind::Capability, &self.capabilities)
            .into_iter()
            .chain(of(GrantKind::Dependency, &self.dependencies))
            .chain(of(GrantKind::Subscription, &self.subscriptions))
            .collect()
    }
}

/// A module key as the catalog API shows it: its versions, which one serves, and
/// its grant.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PackageView {
    #[serde(flatten)]
    pub release: Release,
    pub versions: Vec<PackageInfo>,
    #[schema(value_type = Vec<Object>)]
    pub grant: Vec<serde_json::Value>,
}

impl Provisioner<'_> {
    /// Validates and stores an uploaded component. It serves at once if everything
    /// it requests was decided by its key's grant, else it waits for one.
    pub async fn install_package(
        &self,
        wasm: &[u8],
        signature: Option<&str>,
        actor: &Actor<'_>,
    ) -> Result<Installed, PackageError> {
        let settings = self.packages;
        if wasm.len() > settings.max_bytes {
            return Err(PackageError::TooLarge(settings.max_bytes));
        }
        let publisher = self.publisher_of(wasm, signature)?;
        let module = self
            .runtime
            .prepare(wasm, &Provenance::Extra)
            .await
            .map_err(|err| match err.downcast_ref::<KeyTaken>() {
                Some(taken) => PackageError::KeyTaken(taken.to_string()),
                None => PackageError::Invalid(format!("{err:#}")),
            })?;
        let key = module.key.clone();
        let version = module.manifest.version.clone();
        let requested = requests(&module.manifest);
        let manifest = module.manifest_json().to_string();
        let contract = module.pre.contract_version();
        let package = NewPackage {
            key: &key,
            version: &version,
            sha256: &module.sha256,
            contract,
            manifest: &manifest,
            wasm,
            publisher: publisher.as_deref(),
            uploaded_by: actor.id,
        };
        let target = format!("module:{key}@{version}");
        let audit = actor.audit(None, "module.install", &target).after(&json!({
            "sha256": module.sha256,
            "publisher": publisher,
        }));
        let _turn = self.runtime.catalog_turn().await;
        let (stored, serves) = match self
            .db
            .store_module_package(&package, &requested, audit)
            .await?
        {
            Ok(stored) => stored,
            Err(UploadRefusal::KeyOwned { publisher: owner }) => {
                return Err(PackageError::KeyTaken(match owner {
                    Some(owner) => format!("Module key {key} belongs to the publisher {owner}"),
                    None => format!(
                        "Module key {key} was installed unsigned: only unsigned uploads may replace it"
                    ),
                }));
            }
            Err(UploadRefusal::VersionExists) => {
                return Err(PackageError::VersionExists { key, version });
            }
        };
        self.sync_key(&key).await?;
        let release = self.installed_release(&key).await?;
        let state = if serves {
            "active"
        } else if release.pending_version.as_ref() == Some(&version) {
            "awaiting_grant"
        } else {
            "stored"
        };
        let undecided = self
            .db
            .module_grant(&key)
            .await?
            .undecided(&module.manifest);
        tracing::info!(module = %key, %version, state, "module uploaded");
        Ok(Installed {
            requests: views(&requested),
            undecided: views(&undecided),
            key,
            version,
            sha256: module.sha256.clone(),
            contract: contract.to_owned(),
            size_bytes: wasm.len(),
            publisher,
            state,
            unchanged: stored == Stored::Again,
        })
    }

    /// Records what a platform admin allows of what `key`'s current and pending
    /// versions request (the rest of that is refused; decisions on other requests
    /// stay), and starts the pending version if all it requests is now decided.
    pub async fn grant_module(
        &self,
        key: &str,
        choice: &GrantChoice,
        actor: &Actor<'_>,
    ) -> Result<PackageView, PackageError> {
        let _turn = self.runtime.catalog_turn().await;
        let release = self.installed_release(key).await?;
        let mut versions = Vec::new();
        for version in [&release.current_version, &release.pending_version]
            .into_iter()
            .flatten()
        {
            versions.push(self.load_package(key, version).await?);
        }
        let requested: BTreeSet<Request> = versions
            .iter()
            .flat_map(|m| requests(&m.manifest))
            .collect();
        let allowed = if choice.all {
            requested.clone()
        } else {
            choice.allowed()
        };
        let unrequested: Vec<Request> = allowed.difference(&requested).cloned().collect();
        if !unrequested.is_empty() {
            return Err(PackageError::Invalid(format!(
                "Module {key} does not request: {}",
                describe(&unrequested)
            )));
        }
        let before = self.db.module_grant(key).await?;
        let grant = before.merged(requested.into_iter().map(|request| {
            let ok = allowed.contains(&request);
            (request, ok)
        }));
        let activate = release
            .pending_version
            .as_ref()
            .zip(versions.last())
            .filter(|(_, pending)| grant.undecided(&pending.manifest).is_empty())
            .map(|(version, _)| version.as_str());
        let decisions: Vec<(Request, bool)> =
            grant.decisions().map(|(r, ok)| (r.clone(), ok)).collect();
        let target = format!("module:{key}");
        let audit = actor
            .audit(None, "module.grant", &target)
            .before(&grant_json(&before))
            .after(&grant_json(&grant));
        self.db
            .store_module_grant(key, &decisions, activate, actor.id, audit)
            .await?;
        self.sync_key(key).await?;
        self.package_view(key).await
    }

    /// Makes the version that served before the current one serve again.
    pub async fn roll_back(
        &self,
        key: &str,
        actor: &Actor<'_>,
    ) -> Result<PackageView, PackageError> {
        let release = self.installed_release(key).await?;
        let previous = self
            .db
            .module_packages(key)
            .await?
            .into_iter()
            .filter(|p| Some(&p.version) != release.current_version.as_ref())
            .filter_map(|p| p.activated_at.map(|at| (at, p.version)))
            .max()
            .map(|(_, version)| version)
            .ok_or_else(|| {
                PackageError::Refused(format!(
                    "Module {key} has no earlier version to roll back to"
                ))
            })?;
        self.activate_version(key, &previous, actor).await
    }

    /// Makes a stored version of `key` the one it serves: new requests go to it,
    /// those in flight finish where they are. A version waiting for a grant stops
    /// waiting (it stays stored).
    pub async fn activate_version(
        &self,
        key: &str,
        version: &str,
        actor: &Actor<'_>,
    ) -> Result<PackageView, PackageError> {
        let _turn = self.runtime.catalog_turn().await;
        let release = self.installed_release(key).await?;
        self.check_decided(key, version).await?;
        let target = format!("module:{key}");
        let audit = actor
            .audit(None, "module.activate", &target)
            .before(&json!({"version": release.current_version}))
            .after(&json!({"version": version}));
        self.db.activate_module_version(key, version, audit).await?;
        self.sync_key(key).await?;
        self.package_view(key).await
    }

    /// Refuses a version whose requests the key's grant has not all decided.
    async fn check_decided(&self, key: &str, version: &str) -> Result<(), PackageError> {
        let module = self.load_package(key, version).await?;
        let undecided = self.db.module_grant(key).await?.undecided(&module.manifest);
        if undecided.is_empty() {
            Ok(())
        } else {
            Err(PackageError::Refused(format!(
                "Version {version} of {key} requests what its grant has not decided: {}",
                describe(&undecided)
            )))
        }
    }

    /// Holds a tenant on one stored version of `key` (`None`: back to its current).
    pub async fn pin_version(
        &self,
        tenant_key: &str,
        key: &str,
        version: Option<&str>,
        actor: &Actor<'_>,
    ) -> Result<serde_json::Value, PackageError> {
        let view = self.find_tenant(tenant_key).await?;
        let _turn = self.runtime.catalog_turn().await;
        self.installed_release(key).await?;
        if let Some(version) = version {
            self.check_decided(key, version).await?;
        }
        let tenant_id = view.tenant.id.clone();
        let target = format!("tenant:{}/module:{key}", view.tenant.subdomain);
        let audit = actor
            .audit(Some(&tenant_id), "module.pin", &target)
            .after(&json!({"pinned_version": version}));
        if !self
            .db
            .pin_module_version(&tenant_id, key, version, audit)
            .await?
        {
            return Err(PackageError::Refused(format!(
                "Module {key} is not enabled for {}: enable it before pinning a version",
                view.tenant.subdomain
            )));
        }
        self.sync_key(key).await?;
        self.published(&tenant_id).await?;
        Ok(json!({
            "tenant": view.tenant.subdomain,
            "module": key,
            "pinned_version": version,
        }))
    }

    /// Removes an installed module no tenant has enabled; its tenants' data stays,
    /// and its key with its publisher. `purge` deletes that data for every tenant
    /// first, then frees the key.
    pub async fn uninstall_package(
        &self,
        key: &str,
        purge: bool,
        actor: &Actor<'_>,
    ) -> Result<serde_json::Value, PackageError> {
        let _turn = self.runtime.catalog_turn().await;
        self.installed_release(key).await?;
        let enabled = self.db.tenants_enabling(key).await?;
        if enabled > 0 {
            return Err(PackageError::InUse {
                key: key.to_owned(),
                tenants: enabled,
            });
        }
        // Before the release goes, so that a purge cut short can be run again.
        let mut purged = 0;
        if purge {
            for tenant_id in self.db.all_tenant_ids().await? {
                self.db.purge_module_data(&tenant_id, key).await?;
                purged += 1;
            }
        }
        let target = format!("module:{key}");
        let audit = actor
            .audit(None, "module.uninstall", &target)
            .after(&json!({"purge": purge}));
        if let Err(tenants) = self.db.remove_module_package(key, purge, audit).await? {
            return Err(PackageError::InUse {
                key: key.to_owned(),
                tenants,
            });
        }
        self.sync_key(key).await?;
        Ok(json!({"module": key, "uninstalled": true, "purged_tenants": purge.then_some(purged)}))
    }

    /// An installed key's versions, release and grant.
    pub async fn package_view(&self, key: &str) -> Result<PackageView, PackageError> {
        let release = self.installed_release(key).await?;
        Ok(PackageView {
            versions: self.db.module_packages(key).await?,
            grant: grant_json(&self.db.module_grant(key).await?),
            release,
        })
    }

    /// Every installed key, for the catalog API.
    pub async fn package_views(&self) -> Result<Vec<PackageView>, PackageError> {
        let mut views = Vec::new();
        for release in self.db.module_releases().await? {
            if !is_uninstalled(&release) {
                views.push(self.package_view(&release.key).await?);
            }
        }
        Ok(views)
    }

    /// The release of an installed key (one uninstalled is unknown).
    async fn installed_release(&self, key: &str) -> Result<Release, PackageError> {
        match self.db.module_release(key).await? {
            Some(release) if !is_uninstalled(&release) => Ok(release),
            _ if crate::BUILTIN_MODULES.contains(&key) => {
                Err(PackageError::Shipped(key.to_owned()))
            }
            _ => Err(PackageError::UnknownModule(key.to_owned())),
        }
    }

    /// A stored version, compiled (or loaded from the artifact cache) and checked.
    async fn load_package(
        &self,
        key: &str,
        version: &str,
    ) -> Result<Arc<LoadedModule>, PackageError> {
        let wasm = self.db.module_wasm(key, version).await?.ok_or_else(|| {
            PackageError::UnknownVersion {
                key: key.to_owned(),
                version: version.to_owned(),
            }
        })?;
        self.runtime
            .prepare(&wasm, &Provenance::Extra)
            .await
            .map_err(PackageError::Load)
    }
}

/// A key uninstalled without purge: kept only to stay with its publisher.
fn is_uninstalled(release: &Release) -> bool {
    release.current_version.is_none() && release.pending_version.is_none()
}

fn describe(requests: &[Request]) -> String {
    requests
        .iter()
        .map(|(kind, item)| format!("{} {item}", kind.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn grant_json(grant: &Grant) -> Vec<serde_json::Value> {
    grant
        .decisions()
        .map(|((kind, item), allowed)| json!({"kind": kind, "item": item, "allowed": allowed}))
        .collect()
}
