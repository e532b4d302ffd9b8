//! `mosaic tenant ...`: create, list, change and remove tenants, one at a time or
//! from a CSV file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::{cli_actor_id, print_json};
use crate::AppState;
use crate::provisioning::{Actor, NewTenant, Transition};
use crate::store::Origin;
use crate::store::{TenantChanges, TenantQuery};
use crate::tenancy::TenantStatus;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create an active tenant.
    Create {
        #[command(flatten)]
        tenant: TenantFields,
        #[arg(long)]
        subdomain: String,
        /// Modules to enable besides the core ones, comma-separated.
        #[arg(long, value_delimiter = ',')]
        modules: Vec<String>,
    },
    /// List tenants, newest first.
    List {
        /// Part of the name, subdomain or contact email.
        #[arg(long)]
        search: Option<String>,
        /// pending, active, suspended or archived.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// A tenant with its modules and domains, as JSON.
    Show { tenant: String },
    /// Change a tenant's name, contact or colours.
    Update {
        tenant: String,
        #[command(flatten)]
        fields: TenantFields,
    },
    /// PENDING → ACTIVE.
    Approve(StateChange),
    /// ACTIVE → SUSPENDED (a reason is required).
    Suspend(StateChange),
    /// SUSPENDED → ACTIVE.
    Reactivate(StateChange),
    /// → ARCHIVED (a reason is required).
    Archive(StateChange),
    /// ARCHIVED → ACTIVE.
    Restore(StateChange),
    /// Delete a tenant with all its data and files.
    Delete {
        tenant: String,
        /// The tenant's subdomain, typed again.
        #[arg(long)]
        confirm: String,
    },
    /// Switch a module on for a tenant.
    Enable { tenant: String, module: String },
    /// Switch a module off for a tenant (its data is kept).
    Disable { tenant: String, module: String },
    /// Add a custom domain.
    AddDomain { tenant: String, domain: String },
    /// Remove a custom domain.
    RemoveDomain { tenant: String, domain: String },
    /// Upload a logo (PNG, JPEG or WebP, at most 2 MB).
    Logo { tenant: String, file: PathBuf },
    /// Folder, config and modules of a tenant.
    Health { tenant: String },
    /// Export the tenant's static site into its folder.
    DeploySite { tenant: String },
    /// Create many tenants from a CSV file with the header
    /// `name,subdomain,modules,contact_email,primary_color,secondary_color`, and an
    /// optional `timezone` column (modules separated by `;`). A failing row does not stop the others.
    BulkCreate {
        #[arg(long)]
        file: PathBuf,
    },
    /// Switch a module on or off for many tenants.
    BulkModules {
        #[arg(long)]
        module: String,
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: bool,
        #[arg(required = true)]
        tenants: Vec<String>,
    },
}

#[derive(Args)]
pub struct TenantFields {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    contact_email: Option<String>,
    /// `#rrggbb`.
    #[arg(long)]
    primary_color: Option<String>,
    #[arg(long)]
    secondary_color: Option<String>,
    /// An IANA zone, e.g. `Europe/Paris` (UTC by default).
    #[arg(long)]
    timezone: Option<String>,
}

#[derive(Args)]
pub struct StateChange {
    tenant: String,
    #[arg(long)]
    reason: Option<String>,
}

pub(super) async fn run(state: AppState, command: TenantCommand) -> anyhow::Result<()> {
    let provisioner = state.provisioner();
    let actor_id = cli_actor_id();
    let actor = &Actor {
        id: &actor_id,
        origin: Origin::default(),
    };
    let state = &state;
    let change_state = |transition: Transition, change: StateChange| async move {
        let tenant = state
            .provisioner()
            .transition(&change.tenant, transition, change.reason.as_deref(), actor)
            .await?;
        println!("tenant {} is {}", tenant.subdomain, tenant.status.as_str());
        Ok(())
    };
    match command {
        TenantCommand::Approve(change) => change_state(Transition::Approve, change).await,
        TenantCommand::Suspend(change) => change_state(Transition::Suspend, change).await,
        TenantCommand::Reactivate(change) => change_state(Transition::Reactivate, change).await,
        TenantCommand::Archive(change) => change_state(Transition::Archive, change).await,
        TenantCommand::Restore(change) => change_state(Transition::Restore, change).await,
        TenantCommand::Create {
            tenant,
            subdomain,
            modules,
        } => {
            let created = provisioner
                .create_tenant(
                    NewTenant {
                        name: tenant.name.context("--name is required")?,
                        subdomain,
                        modules,
                        contact_email: tenant.contact_email,
                        primary_color: tenant.primary_color,
                        secondary_color: tenant.secondary_color,
                        timezone: tenant.timezone,
                        plan: None,
                    },
                    actor,
                )
                .await?;
            print_json(&provisioner.details(&created.id).await?)
        }
        TenantCommand::List {
            search,
            status,
            page,
            per_page,
        } => {
            let status = status
                .as_deref()
                .map(str::parse::<TenantStatus>)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let (tenants, total) = state
                .db
                .list_tenants(&TenantQuery {
                    search,
                    status,
                    limit: per_page.clamp(1, 1000),
                    offset: (page.max(1) - 1) * per_page.clamp(1, 1000),
                })
                .await?;
            println!("{:<24} {:<10} {:<36} NAME", "SUBDOMAIN", "STATUS", "ID");
            for t in &tenants {
                println!(
                    "{:<24} {:<10} {:<36} {}",
                    t.subdomain,
                    t.status.as_str(),
                    t.id,
                    t.name
                );
            }
            println!("({} of {total})", tenants.len());
            Ok(())
        }
        TenantCommand::Show { tenant } => print_json(&provisioner.details(&tenant).await?),
        TenantCommand::Update { tenant, fields } => {
            let changes = TenantChanges {
                name: fields.name,
                contact_email: fields.contact_email.map(Some),
                primary_color: fields.primary_color.map(Some),
                secondary_color: fields.secondary_color.map(Some),
                logo: None,
                timezone: fields.timezone,
            };
            print_json(&provisioner.update_tenant(&tenant, changes, actor).await?)
        }
        TenantCommand::Delete { tenant, confirm } => {
            provisioner.delete_tenant(&tenant, &confirm, actor).await?;
            println!("deleted tenant {tenant}");
            Ok(())
        }
        TenantCommand::Enable { tenant, module } => print_json(
            &provisioner
                .toggle_module(&tenant, &module, true, actor)
                .await?,
        ),
        TenantCommand::Disable { tenant, module } => print_json(
            &provisioner
                .toggle_module(&tenant, &module, false, actor)
                .await?,
        ),
        TenantCommand::AddDomain { tenant, domain } => {
            print_json(&provisioner.add_domain(&tenant, &domain, actor).await?)
        }
        TenantCommand::RemoveDomain { tenant, domain } => {
            print_json(&provisioner.remove_domain(&tenant, &domain, actor).await?)
        }
        TenantCommand::Logo { tenant, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print_json(&provisioner.set_logo(&tenant, &bytes, actor).await?)
        }
        TenantCommand::Health { tenant } => print_json(&provisioner.health(&tenant).await?),
        TenantCommand::DeploySite { tenant } => {
            print_json(&provisioner.deploy_site(&tenant, actor).await?)
        }
        TenantCommand::BulkCreate { file } => bulk_create(state, &file, actor).await,
        TenantCommand::BulkModules {
            module,
            enabled,
            tenants,
        } => {
            let results = provisioner
                .bulk_toggle(&tenants, &module, enabled, actor)
                .await;
            print_json(&results)?;
            let failed = results.iter().filter(|r| !r.ok).count();
            anyhow::ensure!(failed == 0, "{failed} of {} tenants failed", results.len());
            Ok(())
        }
    }
}

/// One CSV row of `tenant bulk-create`.
#[derive(serde::Deserialize)]
struct CsvTenant {
    name: String,
    subdomain: String,
    #[serde(default)]
    modules: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    primary_color: String,
    #[serde(default)]
    secondary_color: String,
    #[serde(default)]
    timezone: String,
}

impl From<CsvTenant> for NewTenant {
    fn from(row: CsvTenant) -> Self {
        let optional = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            name: row.name,
            subdomain: row.subdomain.trim().to_owned(),
            modules: row
                .modules
                .split(';')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            contact_email: optional(row.contact_email),
            primary_color: optional(row.primary_color),
            secondary_color: optional(row.secondary_color),
            timezone: optional(row.timezone),
            plan: None,
        }
    }
}

async fn bulk_create(
    state: &AppState,
    file: &std::path::Path,
    actor: &Actor<'_>,
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let rows: Vec<NewTenant> = reader
        .deserialize::<CsvTenant>()
        .enumerate()
        .map(|(i, row)| {
            row.map(NewTenant::from)
                .with_context(|| format!("{} row {}", file.display(), i + 2))
        })
        .collect::<anyhow::Result<_>>()?;
    let total = rows.len();
    let bar = indicatif::ProgressBar::new(total as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} tenants ({eta} left)",
        )?,
    );
    let subdomains: Vec<String> = rows.iter().map(|r| r.subdomain.clone()).collect();
    let results = state
        .provisioner()
        .bulk_create(rows, actor, |done| bar.set_position(done as u64))
        .await;
    bar.finish_and_clear();
    let mut failed = 0;
    for item in &results {
        if let Some(error) = &item.error {
            failed += 1;
            let fields = error
                .fields
                .as_ref()
                .map(|f| format!(" {f:?}"))
                .unwrap_or_default();
            println!(
                "row {} ({}): {}{fields}",
                item.index + 2,
                subdomains[item.index],
                error.message
            );
        }
    }
    println!("created {} of {total} tenants", total - failed);
    anyhow::ensure!(failed == 0, "{failed} of {total} rows failed");
    Ok(())
}
