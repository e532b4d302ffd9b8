//! `mosaic demo ...`: demo requests sent from the public site.

use clap::Subcommand;

use super::{cli_actor_id, print_json};
use crate::AppState;
use crate::provisioning::{Actor, Conversion};
use crate::store::Origin;

#[derive(Subcommand)]
pub enum DemoCommand {
    /// Demo requests, newest first.
    List {
        /// new or converted.
        #[arg(long)]
        status: Option<String>,
    },
    /// Create the tenant and invite the requester as its first admin.
    Convert {
        id: String,
        #[arg(long)]
        subdomain: String,
        #[arg(long, value_delimiter = ',')]
        modules: Vec<String>,
    },
}

pub(super) async fn run(state: AppState, command: DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::List { status } => print_json(
            &state
                .db
                .list_demo_requests(status.as_deref(), 100, 0)
                .await?,
        ),
        DemoCommand::Convert {
            id,
            subdomain,
            modules,
        } => {
            let actor_id = cli_actor_id();
            let actor = Actor {
                id: &actor_id,
                origin: Origin::default(),
            };
            let provisioner = state.provisioner();
            let tenant = provisioner
                .convert_demo_request(&id, Conversion { subdomain, modules }, &actor)
                .await?;
            print_json(&provisioner.details(&tenant.id).await?)
        }
    }
}
