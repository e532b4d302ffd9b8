//! Each tenant's folder under `<data dir>/tenants/<subdomain>/`: its `config.json`,
//! its logo, and the static site exported from them. Every write is atomic (a temp
//! file in the same folder, then a rename), and every read stays inside the folder.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use super::site::{index_html, theme_css};
use crate::runtime::registry::LoadedModule;
use crate::tenancy::{RenderedConfig, Tenant};

/// Largest accepted logo.
pub const MAX_LOGO_BYTES: usize = 2 << 20;

/// Logo formats, told apart by their first bytes, never by a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Webp,
}

impl ImageKind {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }
}

/// Why an asset was not served.
#[derive(Debug, PartialEq, Eq)]
pub enum AssetRefusal {
    /// The path tries to leave the folder or is not a plain relative path.
    Forbidden,
    NotFound,
}

/// An asset read from a tenant's folder.
#[derive(Debug)]
pub struct Asset {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// A file `deploy_site` wrote.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WrittenFile {
    pub path: String,
    pub bytes: usize,
}

/// A write to a tenant's folder that failed after the change it follows was
/// committed: logged, kept for the tenant's health report, and cleared by the next
/// write of the same kind that succeeds.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FileFailure {
    /// What was being written: `config.json`, `logo`, `folder`.
    pub file: &'static str,
    pub error: String,
    pub at: i64,
}

/// The `tenants/` folder of the data dir.
#[derive(Debug, Clone)]
pub struct TenantFiles {
    root: PathBuf,
    /// Each tenant's last failed write after a commit, by tenant id.
    failures: std::sync::Arc<dashmap::DashMap<String, FileFailure>>,
    /// Logo uploads take turns on this replica, so the file on disk is always the
    /// one of the last committed upload.
    logo_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Where a deleted tenant's folder is moved before it is removed: out of reach of
/// any subdomain (none starts with a dot), so a new tenant under the same subdomain
/// starts empty even if the removal fails.
const DELETED_PREFIX: &str = ".deleted-";

impl TenantFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("tenants"),
            failures: Default::default(),
            logo_turn: Default::default(),
        }
    }

    /// The tenant's folder. Subdomains are DNS labels, so this is one plain component.
    pub fn folder(&self, subdomain: &str) -> PathBuf {
        self.root.join(subdomain)
    }

    pub fn config_path(&self, subdomain: &str) -> PathBuf {
        self.folder(subdomain).join("config.json")
    }

    pub fn write_config(&self, subdomain: &str, config: &RenderedConfig) -> std::io::Result<()> {
        write_atomic(&self.config_path(subdomain), config.json.as_bytes())
    }

    /// Whether `config.json` on disk is exactly `config`: `None` when it is missing.
    pub fn config_is_current(&self, subdomain: &str, config: &RenderedConfig) -> Option<bool> {
        std::fs::read(self.config_path(subdomain))
            .ok()
            .map(|bytes| bytes == config.json.as_bytes())
    }

    /// Notes how a write after a commit went: a failure is logged and kept for the
    /// tenant's health; a success clears an earlier failure of the same file.
    pub fn record(&self, tenant_id: &str, file: &'static str, written: std::io::Result<()>) {
        match written {
            Ok(()) => {
                self.failures
                    .remove_if(tenant_id, |_, failure| failure.file == file);
            }
            Err(err) => {
                tracing::error!(tenant_id, file, error = %err, "writing a tenant's file failed after its change was committed");
                self.failures.insert(
                    tenant_id.to_owned(),
                    FileFailure {
                        file,
                        error: err.to_string(),
                        at: crate::store::now_ms(),
                    },
                );
            }
        }
    }

    /// The tenant's last failed write, if none of its kind succeeded since.
    pub fn failure(&self, tenant_id: &str) -> Option<FileFailure> {
        self.failures.get(tenant_id).map(|f| f.clone())
    }

    /// How many tenants (deleted ones included) have a failed write outstanding.
    pub fn failure_count(&self) -> usize {
        self.failures.len()
    }

    /// Waits for this replica's turn to change a logo.
    pub async fn logo_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.logo_turn.lock().await
    }

    /// Stages a logo beside where it will go; [`TenantFiles::publish_logo`] puts it
    /// in place once the change naming it is committed. Returns its file name.
    pub fn stage_logo(
        &self,
        subdomain: &str,
        kind: ImageKind,
        bytes: &[u8],
    ) -> std::io::Result<String> {
        let name = format!("logo.{}", kind.extension());
        write_atomic(&self.folder(subdomain).join(staged(&name)), bytes)?;
        Ok(name)
    }

    /// Puts the staged logo `name` in place and removes a logo of another format.
    pub fn publish_logo(&self, subdomain: &str, name: &str) -> std::io::Result<()> {
        let folder = self.folder(subdomain);
        std::fs::rename(folder.join(staged(name)), folder.join(name))?;
        for other in [ImageKind::Png, ImageKind::Jpeg, ImageKind::Webp] {
            let other = format!("logo.{}", other.extension());
            if other != name {
                remove_if_exists(&folder.join(other))?;
            }
        }
        Ok(())
    }

    /// Removes a staged logo whose change was not committed.
    pub fn discard_logo(&self, subdomain: &str, name: &str) {
        let _ = remove_if_exists(&self.folder(subdomain).join(staged(name)));
    }

    /// A new tenant's folder must start empty: anything already under its subdomain
    /// (left by a tenant deleted while its folder could not be moved) is set aside.
    pub fn claim_folder(&self, subdomain: &str, tenant_id: &str) -> std::io::Result<()> {
        let folder = self.folder(subdomain);
        if std::fs::symlink_metadata(&folder).is_err() {
            return Ok(());
        }
        let aside = self
            .root
            .join(format!("{DELETED_PREFIX}{subdomain}-{tenant_id}"));
        tracing::warn!(folder = %folder.display(), aside = %aside.display(), "a new tenant's folder was in use; set aside");
        std::fs::rename(&folder, &aside)?;
        remove_dir_if_exists(&aside)
    }

    /// Removes a deleted tenant's folder: first moved out of its subdomain's way
    /// (named by the tenant's id), then removed. What could not be removed is
    /// retried by [`TenantFiles::remove_deleted`].
    pub fn remove(&self, subdomain: &str, tenant_id: &str) -> std::io::Result<()> {
        let aside = self.root.join(format!("{DELETED_PREFIX}{tenant_id}"));
        match std::fs::rename(self.folder(subdomain), &aside) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            moved => moved?,
        }
        remove_dir_if_exists(&aside)
    }

    /// Removes what is left of deleted tenants' folders.
    pub fn remove_deleted(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            entries => entries?,
        };
        for entry in entries {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(DELETED_PREFIX)
            {
                remove_dir_if_exists(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Reads `path` (as given in the URL, already percent-decoded) from the tenant's
    /// folder. Refuses anything but plain names: no `..`, no absolute or drive
    /// paths, no backslashes, and no symlink anywhere on the way.
    pub fn read_asset(&self, subdomain: &str, path: &str) -> Result<Asset, AssetRefusal> {
        if path.is_empty() || path.contains(['\\', '\0']) || path.starts_with('/') {
            return Err(AssetRefusal::Forbidden);
        }
        let relative = Path::new(path);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(name) if !name.is_empty()))
        {
            return Err(AssetRefusal::Forbidden);
        }
        // Hidden files (a logo staged before its change commits) are no assets.
        if relative
            .components()
            .any(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."))
        {
            return Err(AssetRefusal::NotFound);
        }
        let mut current = self.folder(subdomain);
        let folder_meta =
            std::fs::symlink_metadata(&current).map_err(|_| AssetRefusal::NotFound)?;
        if !folder_meta.is_dir() {
            return Err(AssetRefusal::NotFound);
        }
        for component in relative.components() {
            current.push(component);
            let meta = std::fs::symlink_metadata(&current).map_err(|_| AssetRefusal::NotFound)?;
            if meta.file_type().is_symlink() {
                return Err(AssetRefusal::Forbidden);
            }
        }
        if !std::fs::symlink_metadata(&current).is_ok_and(|m| m.is_file()) {
            return Err(AssetRefusal::NotFound);
        }
        let bytes = std::fs::read(&current).map_err(|_| AssetRefusal::NotFound)?;
        let content_type = mime_guess::from_path(&current)
            .first_or_octet_stream()
            .essence_str()
            .to_owned();
        Ok(Asset {
            bytes,
            content_type,
        })
    }

    /// Exports the tenant's static site into `site/`: its config, a theme stylesheet
    /// from its colours, its logo, and an index page listing every module with the
    /// locked ones marked.
    pub fn deploy_site(
        &self,
        tenant: &Tenant,
        config: &RenderedConfig,
        modules: &[(&LoadedModule, bool)],
    ) -> std::io::Result<Vec<WrittenFile>> {
        let folder = self.folder(&tenant.subdomain);
        let site = folder.join("site");
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("config.json".into(), config.json.clone().into_bytes()),
            ("theme.css".into(), theme_css(tenant).into_bytes()),
            (
                "index.html".into(),
                index_html(tenant, modules).into_bytes(),
            ),
        ];
        if let Some(logo) = &tenant.logo {
            files.push((logo.clone(), std::fs::read(folder.join(logo))?));
        }
        files
            .into_iter()
            .map(|(name, bytes)| {
                write_atomic(&site.join(&name), &bytes)?;
                Ok(WrittenFile {
                    path: format!("site/{name}"),
                    bytes: bytes.len(),
                })
            })
            .collect()
    }
}

/// Writes `bytes` to a temp file beside `path`, flushes it, then renames it over
/// `path`: readers see the old file or the new one, never a half-written one.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().ok_or(std::io::ErrorKind::InvalidInput)?;
    std::fs::create_dir_all(folder)?;
    let mut temp = tempfile::NamedTempFile::new_in(folder)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Where a file is written before the change naming it is committed.
fn staged(name: &str) -> String {
    format!(".{name}.staged")
}

fn remove_dir_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_apart_by_content() {
        assert_eq!(
            ImageKind::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(ImageKind::Png)
        );
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(
            ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(ImageKind::sniff(b"GIF89a"), None);
        assert_eq!(ImageKind::sniff(b"<svg onload=alert(1)>"), None);
    }
}
