//! Installing a module version: compile (or load the cached artifact), link against
//! its contract version, read its manifest, and make it the version its key serves.

use std::sync::Arc;
use std::time::Instant;

use super::guest_log::GuestLog;
use super::registry::{self, LoadedModule};
use super::types::Manifest;
use super::wit::ModulePre;
use super::{Runtime, slot};

impl Runtime {
    /// Compiles (or loads from the cache) a component, reads its manifest and makes it
    /// the installed version of its key. Slots of an older version are dropped; their
    /// in-flight requests finish on the old instances.
    pub async fn install(&self, wasm: &[u8]) -> anyhow::Result<Arc<LoadedModule>> {
        let started = Instant::now();
        let inner = &self.inner;
        let loaded = inner.cache.load(&inner.engine, wasm)?;
        let pre = ModulePre::new(&inner.engine, &inner.linker, &loaded.component)
            .map_err(anyhow::Error::msg)?;
        let manifest = self.describe(&pre).await?;
        let module = Arc::new(
            registry::load(manifest, pre, loaded.sha256, loaded.cached)
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
