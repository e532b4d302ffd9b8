//! `mosaic token issue`: development tokens.

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::Config;
use crate::auth::{Claims, JwtKeys, Role};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a signed access token (development and tests only).
    Issue(Issue),
}

#[derive(Args)]
pub struct Issue {
    /// The tenant's subdomain or id.
    #[arg(long, required_unless_present = "platform_admin")]
    tenant: Option<String>,
    /// MEMBER, MANAGER or TENANT_ADMIN.
    #[arg(long, default_value = "TENANT_ADMIN")]
    role: Role,
    /// The user id to put in the token.
    #[arg(long, default_value = "dev-user")]
    user: String,
    /// The user's email: modules find the caller's own employee record by it.
    #[arg(long)]
    email: Option<String>,
    /// A SUPER_ADMIN token for the admin API, bound to no tenant.
    #[arg(long, conflicts_with = "tenant")]
    platform_admin: bool,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl_secs: u64,
}

pub(super) async fn run(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue(issue) => issue_token(config, issue).await,
    }
}

async fn issue_token(config: Config, issue: Issue) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.production,
        "`token issue` is for development and tests; in production, tokens come from POST /api/auth/login"
    );
    let keys = JwtKeys::from_config(&config)?;
    let claims = if issue.platform_admin {
        Claims::new(issue.user, None, Role::SuperAdmin, issue.ttl_secs)
    } else {
        anyhow::ensure!(
            issue.role != Role::SuperAdmin,
            "use --platform-admin for a SUPER_ADMIN token"
        );
        let key = issue.tenant.unwrap_or_default();
        let db = config.open_db().await?;
        let tenant = match db.tenant_by_subdomain(&key).await? {
            Some(t) => t,
            None => db
                .tenant_by_id(&key)
                .await?
                .with_context(|| format!("no tenant {key:?}"))?,
        };
        let mut claims = Claims::new(issue.user, Some(tenant.id), issue.role, issue.ttl_secs);
        claims.email = issue.email.map(|e| e.trim().to_lowercase());
        claims
    };
    println!("{}", keys.issue(&claims)?);
    Ok(())
}
