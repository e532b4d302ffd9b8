//! Bringing a replica's installed modules in line with the database: after its own
//! changes, on every change of the catalog's generation (another replica, the CLI),
//! and at start-up.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{PackageError, Provisioner};
use crate::runtime::grant::Permits;
use crate::runtime::registry::LoadedModule;
use crate::store::packages::Release;

impl Provisioner<'_> {
    /// Brings this replica's installed modules in line with the database: each key's
    /// current version, its grant, the versions tenants are pinned to, and keys
    /// uninstalled elsewhere. One key that fails to load does not stop the others;
    /// the first failure is returned, so that the caller tries again.
    pub async fn sync_packages(&self) -> Result<(), PackageError> {
        let _turn = self.runtime.catalog_turn().await;
        let releases = self.db.module_releases().await?;
        let mut failure = None;
        for release in &releases {
            if let Err(err) = self.sync_release(release).await {
                tracing::error!(module = %release.key, error = %err, "loading an installed module failed");
                failure.get_or_insert(err);
            }
        }
        let known: BTreeSet<&str> = releases.iter().map(|r| r.key.as_str()).collect();
        for module in self.runtime.modules() {
            if is_installed_package(&module) && !known.contains(module.key.as_str()) {
                self.runtime.remove(&module.key);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// [`Self::sync_packages`] for one key, after this replica changed it.
    pub(super) async fn sync_key(&self, key: &str) -> Result<(), PackageError> {
        match self.db.module_release(key).await? {
            Some(release) => self.sync_release(&release).await,
            None => {
                if self
                    .runtime
                    .module(key)
                    .is_some_and(|m| is_installed_package(&m))
                {
                    self.runtime.remove(key);
                }
                Ok(())
            }
        }
    }

    /// Loads what the database says `release` serves: the pinned versions first, so
    /// that a tenant held on the version being replaced stays on it.
    async fn sync_release(&self, release: &Release) -> Result<(), PackageError> {
        let key = &release.key;
        let Some(current) = &release.current_version else {
            self.runtime.set_pinned_versions(key, Vec::new());
            if self
                .runtime
                .module(key)
                .is_some_and(|m| is_installed_package(&m))
            {
                self.runtime.remove(key);
            }
            return Ok(());
        };
        let grant = self.db.module_grant(key).await?;
        let packages = self.db.module_packages(key).await?;
        let sha_of = |version: &str| {
            packages
                .iter()
                .find(|p| p.version == version)
                .map(|p| p.sha256.as_str())
        };
        let loaded = self.runtime.loaded_versions(key);
        let load = async |version: &str| -> Result<Arc<LoadedModule>, PackageError> {
            let module = match loaded
                .iter()
                .find(|m| Some(m.sha256.as_str()) == sha_of(version))
            {
                Some(module) => module.clone(),
                None => self.load_package(key, version).await?,
            };
            module.set_grant(grant.clone());
            Ok(module)
        };
        let mut pinned = Vec::new();
        for (_, version) in self
            .db
            .pinned_module_versions()
            .await?
            .into_iter()
            .filter(|(k, _)| k == key)
        {
            pinned.push(load(&version).await?);
        }
        self.runtime.set_pinned_versions(key, pinned);
        let module = load(current).await?;
        let serving = self.runtime.module(key);
        if !serving.is_some_and(|m| Arc::ptr_eq(&m, &module)) {
            self.runtime
                .activate(module)
                .await
                .map_err(PackageError::Load)?;
        }
        Ok(())
    }
}

/// Installed at runtime (granted), not shipped or given with `--module`.
fn is_installed_package(module: &LoadedModule) -> bool {
    matches!(module.permits(), Permits::Granted(_))
}
