//! Installing a module version: compile (or load the cached artifact), link against
//! its contract version, read its manifest, and make it the version its key serves.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::guest_log::GuestLog;
use super::registry::{self, LoadedModule, Provenance};
use super::types::Manifest;
use super::wit::ModulePre;
use super::{Runtime, slot};

/// A component the host would not install, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefusedModule {
    pub source: String,
    pub error: String,
}

impl Runtime {
    /// Compiles (or loads from the cache) a component, reads its manifest and makes it
    /// the installed version of its key. Slots of an older version are dropped; their
    /// in-flight requests finish on the old instances.
    pub async fn install(
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
        let module = Arc::new(
            registry::load(manifest, pre, loaded.sha256, loaded.cached, provenance)
                .map_err(anyhow::Error::msg)?,
        );
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
        inner
            .slots
            .retain(|(_, key), slot| *key != module.key || Arc::ptr_eq(&slot.module, &module));
        tracing::info!(
            module = %module.key,
            version = %module.manifest.version,
            cached = loaded.cached,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "installed module"
        );
        Ok(module)
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
