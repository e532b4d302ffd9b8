//! Compiled components cached on disk, keyed by the wasm's hash and the engine's
//! compatibility hash, so a restart deserializes (≈0.3 ms) instead of compiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ArtifactCache {
    dir: PathBuf,
}

/// A component and whether it came from the cache.
pub struct Loaded {
    pub component: Component,
    pub sha256: String,
    pub cached: bool,
}

impl ArtifactCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<Loaded> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let path = self.path_for(engine, &sha256);
        if path.exists() {
            match deserialize(engine, &path) {
                Ok(component) => {
                    return Ok(Loaded {
                        component,
                        sha256,
                        cached: true,
                    });
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached artifact")
                }
            }
        }
        let component = Component::new(engine, wasm).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled module");
        }
        Ok(Loaded {
            component,
            sha256,
            cached: false,
        })
    }

    fn path_for(&self, engine: &Engine, sha256: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let tmp = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is one this host wrote with `Component::serialize` into its own
    // cache directory (atomically, by rename), under a name that includes the engine's
    // compatibility hash; wasmtime checks the header and version again on load.
    unsafe { Component::deserialize_file(engine, path) }
}
