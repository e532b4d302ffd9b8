//! `mosaic module ...`: a module's whole life for its author and the platform
//! admin — scaffold a crate anywhere, build and check it, sign it, install it,
//! grant it, roll it back and uninstall it.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::json;

use super::{add_builtin_modules, cli_actor_id, print_json};
use crate::provisioning::{Actor, GrantChoice};
use crate::runtime::{Provenance, Runtime};
use crate::store::{Db, Origin};
use crate::{AppState, Config, Limits};

/// Where `mosaic module new` points a new crate's SDK dependency by default: the
/// SDK of the checkout this binary was built from.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

#[derive(Subcommand)]
pub enum ModuleCommand {
    /// Make a module crate in a new folder, anywhere: it builds at once and serves
    /// `GET /api/<name>/`.
    New {
        /// The module's key (`a-z`, `0-9`, `-`), also the crate's and folder's name.
        name: String,
        /// The folder to create [default: ./<name>].
        #[arg(long)]
        path: Option<PathBuf>,
        /// The `mosaic-sdk` crate to depend on, as a path [default: the SDK of the
        /// checkout this binary was built from].
        #[arg(long, conflicts_with = "sdk_git")]
        sdk_path: Option<PathBuf>,
        /// The `mosaic-sdk` crate to depend on, as a git repository holding it.
        #[arg(long)]
        sdk_git: Option<String>,
    },
    /// Build a module crate for wasm32-wasip2 in release, then check the component
    /// and report its size, contract version and manifest.
    Build {
        /// The crate's folder.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Validate a component (it links, its manifest is well formed) without
    /// installing it; prints its manifest as JSON.
    Check { file: PathBuf },
    /// Make an ed25519 key pair for signing modules; the public half goes to the
    /// platform's `--publisher-key`.
    Keygen {
        /// Where to write the secret key (base64); refused if the file exists.
        #[arg(long)]
        secret_key_file: PathBuf,
    },
    /// Print the signature (base64) of a component, for `install --signature`.
    Sign {
        file: PathBuf,
        #[arg(long)]
        secret_key_file: PathBuf,
    },
    #[command(flatten)]
    Installed(InstalledCommand),
}

/// The commands that change the installed modules, run against the database.
#[derive(Subcommand)]
pub enum InstalledCommand {
    /// Install (or upgrade) a module from its component: every replica serves it
    /// within a few seconds, once its grant covers what it requests.
    Install {
        file: PathBuf,
        /// The publisher's signature of the file (base64), from `mosaic module sign`.
        #[arg(long)]
        signature: Option<String>,
    },
    /// Decide what an installed module may use of what its manifest requests; the
    /// requests not named are refused.
    Grant(GrantArgs),
    /// Make the version that served before the current one serve again.
    Rollback { key: String },
    /// Make a stored version of a module the one it serves.
    Activate { key: String, version: String },
    /// Hold a tenant on one version of a module (`--unpin` follows the current again).
    Pin {
        tenant: String,
        key: String,
        #[arg(required_unless_present = "unpin")]
        version: Option<String>,
        #[arg(long, conflicts_with = "version")]
        unpin: bool,
    },
    /// Remove a module no tenant has enabled.
    Uninstall {
        key: String,
        /// Also delete what it stored for every tenant.
        #[arg(long)]
        purge: bool,
    },
    /// The installed modules, their versions and grants, as JSON.
    List,
}

#[derive(Args)]
pub struct GrantArgs {
    key: String,
    /// Grant everything its current and pending versions request.
    #[arg(long, conflicts_with_all = ["capability", "dependency", "subscription"])]
    all: bool,
    /// A capability to grant (repeatable): events, notify, billing, files.
    #[arg(long)]
    capability: Vec<String>,
    /// A module it may call (repeatable).
    #[arg(long)]
    dependency: Vec<String>,
    /// An event pattern it may receive (repeatable).
    #[arg(long)]
    subscription: Vec<String>,
}

pub(super) async fn run(
    mut config: Config,
    modules_dir: &Path,
    command: ModuleCommand,
) -> anyhow::Result<()> {
    match command {
        ModuleCommand::New {
            name,
            path,
            sdk_path,
            sdk_git,
        } => scaffold(&name, path, sdk_path, sdk_git),
        ModuleCommand::Build { path } => build(&path).await,
        ModuleCommand::Check { file } => {
            let wasm = read_component(&file)?;
            print_json(&check(&wasm).await?)
        }
        ModuleCommand::Keygen { secret_key_file } => keygen(&secret_key_file),
        ModuleCommand::Sign {
            file,
            secret_key_file,
        } => {
            let key = read_secret_key(&secret_key_file)?;
            let signature = key.sign(&read_component(&file)?);
            println!(
                "{}",
                base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
            );
            Ok(())
        }
        ModuleCommand::Installed(command) => {
            add_builtin_modules(&mut config, modules_dir)?;
            installed(AppState::build(config).await?, command).await
        }
    }
}

async fn installed(state: AppState, command: InstalledCommand) -> anyhow::Result<()> {
    let provisioner = state.provisioner();
    let actor_id = cli_actor_id();
    let actor = &Actor {
        id: &actor_id,
        origin: Origin::default(),
    };
    match command {
        InstalledCommand::Install { file, signature } => {
            let wasm = read_component(&file)?;
            let installed = provisioner
                .install_package(&wasm, signature.as_deref(), actor)
                .await?;
            if installed.state == "awaiting_grant" {
                eprintln!(
                    "{} {} waits for a grant: mosaic module grant {} --all (or name what to allow)",
                    installed.key, installed.version, installed.key
                );
            }
            print_json(&installed)
        }
        InstalledCommand::Grant(args) => {
            let choice = GrantChoice {
                all: args.all,
                capabilities: args.capability,
                dependencies: args.dependency,
                subscriptions: args.subscription,
            };
            print_json(&provisioner.grant_module(&args.key, &choice, actor).await?)
        }
        InstalledCommand::Rollback { key } => {
            print_json(&provisioner.roll_back(&key, actor).await?)
        }
        InstalledCommand::Activate { key, version } => {
            print_json(&provisioner.activate_version(&key, &version, actor).await?)
        }
        InstalledCommand::Pin {
            tenant,
            key,
            version,
            unpin: _,
        } => print_json(
            &provisioner
                .pin_version(&tenant, &key, version.as_deref(), actor)
                .await?,
        ),
        InstalledCommand::Uninstall { key, purge } => {
            print_json(&provisioner.uninstall_package(&key, purge, actor).await?)
        }
        InstalledCommand::List => print_json(&provisioner.package_views().await?),
    }
}

/// Writes a new module crate: its own workspace, so it builds wherever it lives.
fn scaffold(
    name: &str,
    path: Option<PathBuf>,
    sdk_path: Option<PathBuf>,
    sdk_git: Option<String>,
) -> anyhow::Result<()> {
    let key_ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !key_ok {
        bail!("a module name is a-z, 0-9 and -, starting with a letter, at most 32 long");
    }
    let dir = path.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    let sdk = match (sdk_path, sdk_git) {
        (_, Some(url)) => format!("{{ git = {} }}", toml_string(&url)),
        (Some(path), None) => sdk_path_dependency(&path)?,
        (None, None) => sdk_path_dependency(Path::new(SDK_DIR)).context(
            "the SDK of the checkout this binary was built from is gone: pass --sdk-path or --sdk-git",
        )?,
    };
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let title = title_case(name);
    std::fs::write(
        dir.join("Cargo.toml"),
        CARGO_TOML.replace("{name}", name).replace("{sdk}", &sdk),
    )?;
    std::fs::write(
        dir.join("src/lib.rs"),
        LIB_RS
            .replace("{name}", name)
            .replace("{title}", &title)
            .replace("{type}", &title.replace(' ', "")),
    )?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    println!("created module {name} in {}", dir.display());
    println!("  build it:    cd {} && mosaic module build", dir.display());
    Ok(())
}

fn sdk_path_dependency(path: &Path) -> anyhow::Result<String> {
    let path = path
        .canonicalize()
        .with_context(|| format!("the SDK at {}", path.display()))?;
    anyhow::ensure!(
        path.join("Cargo.toml").is_file(),
        "{} holds no Cargo.toml: not the mosaic-sdk crate",
        path.display()
    );
    Ok(format!(
        "{{ path = {} }}",
        toml_string(&path.to_string_lossy())
    ))
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn title_case(name: &str) -> String {
    name.split('-')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
mosaic-sdk = {sdk}
serde_json = "1"

# A crate of its own, wherever it lives.
[workspace]
"#;

const LIB_RS: &str = r#"//! The {title} module: a Mosaic module, built with `mosaic module build`.

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection};
use serde_json::json;

const NOTES: Collection = store::collection("notes");

struct {type};

impl Module for {type} {
    fn manifest() -> Manifest {
        Manifest::new("{name}", "{title}", env!("CARGO_PKG_VERSION")).description("Keeps notes")
    }

    fn router() -> Router {
        Router::new()
            .get("/", list)
            .post("/", create)
            .get("/{id}", show)
    }
}

export_module!({type});

/// `GET /api/{name}/`: the module's version and a page of notes.
fn list(req: &Request) -> Result<Response> {
    let page = NOTES.query().limit(20).cursor(req.query("cursor")).fetch()?;
    let mut body: serde_json::Value =
        serde_json::from_str(&page.to_json()).map_err(|e| Error::Internal(e.to_string()))?;
    body["module"] = json!("{name}");
    body["version"] = json!(env!("CARGO_PKG_VERSION"));
    Response::json(200, &body)
}

/// `POST /api/{name}/ {"text": "..."}`.
fn create(req: &Request) -> Result<Response> {
    let body: serde_json::Value = req.json()?;
    let text = body["text"]
        .as_str()
        .filter(|t| !t.trim().is_empty() && t.len() <= 1000)
        .ok_or_else(|| Error::invalid_field("text", "must be text of 1 to 1000 bytes"))?;
    let note = NOTES.insert(&json!({ "text": text }))?;
    Ok(Response::raw_json(201, note.to_json()))
}

fn show(req: &Request) -> Result<Response> {
    let note = NOTES.fetch(req.param("id"), "Note")?;
    Ok(Response::raw_json(200, note.to_json()))
}
"#;

/// Builds the crate at `path` for wasm32-wasip2 in release, then checks it.
async fn build(path: &Path) -> anyhow::Result<()> {
    let manifest = path.join("Cargo.toml");
    anyhow::ensure!(
        manifest.is_file(),
        "{} holds no Cargo.toml: run this in a module crate, or pass its folder",
        path.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = tokio::process::Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("running cargo metadata")?;
    anyhow::ensure!(metadata.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout)?;
    let manifest_path = manifest.canonicalize()?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest_path.as_path()))
        .context("the crate is not in its own cargo metadata")?;
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        })
        .and_then(|t| t["name"].as_str())
        .context("the crate has no cdylib target: a module is `crate-type = [\"cdylib\"]`")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata names no target directory")?;
    eprintln!("building {lib} for wasm32-wasip2 (release)...");
    let status = tokio::process::Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .status()
        .await
        .context("running cargo build")?;
    anyhow::ensure!(
        status.success(),
        "the build failed (is the target installed? rustup target add wasm32-wasip2)"
    );
    let file = Path::new(target_dir)
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", lib.replace('-', "_")));
    let wasm = read_component(&file)?;
    let report = check(&wasm).await?;
    println!(
        "built {} {} (contract {}), {} KiB\n  {}",
        report["manifest"]["key"].as_str().unwrap_or_default(),
        report["manifest"]["version"].as_str().unwrap_or_default(),
        report["contract"].as_str().unwrap_or_default(),
        wasm.len().div_ceil(1024),
        file.display()
    );
    print_json(&report)
}

/// Links a component in a throwaway runtime and reads its manifest.
async fn check(wasm: &[u8]) -> anyhow::Result<serde_json::Value> {
    let scratch = tempfile::tempdir()?;
    let db = Db::connect("sqlite::memory:").await?;
    let runtime = Runtime::new(db, Limits::default(), scratch.path().to_path_buf())?;
    let module = runtime.prepare(wasm, &Provenance::Extra).await?;
    let requests: Vec<_> = crate::runtime::grant::requests(&module.manifest)
        .into_iter()
        .map(|(kind, item)| json!({"kind": kind, "item": item}))
        .collect();
    Ok(json!({
        "sha256": module.sha256,
        "size_bytes": wasm.len(),
        "contract": module.pre.contract_version(),
        "manifest": module.manifest_json(),
        "requests": requests,
    }))
}

fn read_component(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

fn keygen(secret_key_file: &Path) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let encoded = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(secret_key_file)
        .with_context(|| format!("creating {}", secret_key_file.display()))?;
    std::io::Write::write_all(&mut file, format!("{encoded}\n").as_bytes())?;
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes());
    println!("{public}");
    eprintln!(
        "secret key written to {}; give the platform --publisher-key <name>={public}",
        secret_key_file.display()
    );
    Ok(())
}

fn read_secret_key(file: &Path) -> anyhow::Result<SigningKey> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context("the secret key is not base64")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("an ed25519 secret key is 32 bytes"))?;
    Ok(SigningKey::from_bytes(&bytes))
}
