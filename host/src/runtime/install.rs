//! Installing a module version: compile (or load the cached artifact), link against
//! its contract version, read its manifest, and make it the version its key serves.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::guest_log::GuestLog;
use super::registry::{self, LoadError, LoadedModule, Provenance};
use super::types::Manifest;
use super::wit::ModulePre;
use super::{Runtime, slot};

/// A component the host would not install, and why.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RefusedModule {
    pub source: String,
    pub error: String,
}

impl Runtime {
    /// Compiles (or loads from the cache) a component, reads its manifest and makes it
    /// the installed version of its key.
    pub async fn install(
        &self,
        wasm: &[u8],
        provenance: &Provenance,
    ) -> anyhow::Result<Arc<LoadedModule>> {
        let module = self.prepare(wasm, provenance).await?;
        self.activate(module.clone()).await?;
        Ok(module)
    }

    /// Compiles (or loads from the cache) a component, links it against its contract
    /// version and checks the manifest its `describe` returns, changing nothing.
    pub async fn prepare(
        &self,
        wasm: &[u8],
        provenance: &Provenance,
    ) -> anyhow::Result<Arc<LoadedModule>> {
        let started = Instant::now();
        let inner = &self.inner;
        let loaded = inner.cache.load(&inner.engine, wasm)?;
        let pre = ModulePre::new(&inner.engine, &inner.linker, &loaded.component)
            .map_err(anyhow::Error::msg)?;
        let manifest = self.describe(&pre).await?;
        let module = registry::load(manifest, pre, loaded.sha256, loaded.cached, provenance)
            .map_err(|err| match err {
                LoadError::KeyTaken(taken) => anyhow::Error::new(taken),
                LoadError::Invalid(message) => anyhow::Error::msg(message),
            })?;
        tracing::debug!(
            module = %module.key,
            version = %module.manifest.version,
            cached = loaded.cached,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "prepared module"
        );
        Ok(Arc::new(module))
    }

    /// Makes a prepared module the version its key serves. Slots of another version
    /// are dropped; their in-flight requests finish on the old instances, and new
    /// requests start on this one.
    pub async fn activate(&self, module: Arc<LoadedModule>) -> anyhow::Result<()> {
        let inner = &self.inner;
        inner
            .db
            .upsert_module(
                &module.key,
                &module.manifest.name,
                &module.manifest.version,
                &module.sha256,
                &module.manifest_json().to_string(),
            )
            .await?;
        inner.registry.insert(module.clone());
        self.drop_stale_slots(&module.key);
        tracing::info!(
            module = %module.key,
            version = %module.manifest.version,
            cached = module.cached,
            "installed module"
        );
        Ok(())
    }

    /// Loads exactly `versions` of `key` besides its current one, for tenants pinned
    /// to them.
    pub fn set_pinned_versions(&self, key: &str, versions: Vec<Arc<LoadedModule>>) {
        self.inner.registry.set_pinned(key, versions);
        self.drop_stale_slots(key);
    }

    /// Every loaded version of `key`, its current first.
    pub fn loaded_versions(&self, key: &str) -> Vec<Arc<LoadedModule>> {
        self.inner.registry.versions(key)
    }

    /// Stops serving `key`: its slots go, in-flight requests finish.
    pub fn remove(&self, key: &str) {
        self.inner.registry.remove(key);
        self.inner.slots.retain(|(_, k), _| k != key);
        tracing::info!(module = %key, "uninstalled module");
    }

    /// Drops the slots of `key` running a version no tenant resolves to any more.
    fn drop_stale_slots(&self, key: &str) {
        let registry = &self.inner.registry;
        let current = registry.get(key);
        self.inner.slots.retain(|(_, k), slot| {
            k != key
                || current
                    .as_ref()
                    .is_some_and(|m| Arc::ptr_eq(&slot.module, m))
                || registry.is_pinned(&slot.module)
        });
    }

    /// Installs each component at `paths` at start-up. One that cannot be read or
    /// installed is refused and reported (log, `/healthz`, the admin API), and the
    /// others still serve: one bad module never stops the host.
    pub async fn install_all(&self, paths: impl IntoIterator<Item = (PathBuf, Provenance)>) {
        for (path, provenance) in paths {
            let installed = match std::fs::read(&path) {
                Ok(wasm) => self.install(&wasm, &provenance).await.map(drop),
                Err(err) => Err(anyhow::Error::new(err).context("reading the file")),
            };
            if let Err(err) = installed {
                let refused = RefusedModule {
                    source: path.display().to_string(),
                    error: format!("{err:#}"),
                };
                tracing::error!(module = %refused.source, error = %refused.error, "module refused; serving the others");
                self.inner
                    .refused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(refused);
            }
        }
    }

    /// The components refused at start-up, and why.
    pub fn refused_modules(&self) -> Vec<RefusedModule> {
        self.inner
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `describe` in a throwaway instance, under the usual limits.
    async fn describe(&self, pre: &ModulePre) -> anyhow::Result<Manifest> {
        // `describe` must not call imports; what it prints is the installer's.
        let log = GuestLog::new("-", "-", Default::default());
        let mut store = slot::new_store(&self.inner.engine, &self.inner.limits, log);
        let instance = pre
            .instantiate(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        instance
            .describe(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("describe failed: {e:?}"))
    }
}
