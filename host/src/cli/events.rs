//! `mosaic events ...`: a tenant's recent events, dead letters, and replaying them.

use clap::Subcommand;

use super::print_json;
use crate::AppState;
use crate::events::EventLog;
use crate::provisioning::Actor;
use crate::store::Origin;

#[derive(Subcommand)]
pub enum EventsCommand {
    /// The tenant's most recent events, newest first, with their pending and dead
    /// deliveries.
    List {
        /// A tenant id or subdomain.
        tenant: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Deliveries given up on, of one tenant or of all.
    DeadLetters {
        /// A tenant id or subdomain.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Puts dead letters back in line: one (`--event` and `--subscriber`) or all of
    /// the tenant's. A running host delivers them within its tenant sweep.
    Replay {
        /// A tenant id or subdomain.
        tenant: String,
        #[arg(long, requires = "subscriber")]
        event: Option<String>,
        #[arg(long, requires = "event")]
        subscriber: Option<String>,
    },
}

pub(super) async fn run(state: AppState, command: EventsCommand) -> anyhow::Result<()> {
    let log = EventLog {
        db: &state.db,
        runtime: &state.runtime,
    };
    let tenant = async |key: &str| {
        state
            .directory
            .by_key(key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("unknown tenant {key}"))
    };
    match command {
        EventsCommand::List { tenant: key, limit } => {
            let view = tenant(&key).await?;
            print_json(&log.recent(&view.tenant.id, limit).await?)
        }
        EventsCommand::DeadLetters { tenant: key, limit } => {
            let view = match key {
                Some(key) => Some(tenant(&key).await?),
                None => None,
            };
            let tenant_id = view.as_ref().map(|v| v.tenant.id.as_str());
            print_json(&log.dead_letters(tenant_id, limit).await?)
        }
        EventsCommand::Replay {
            tenant: key,
            event,
            subscriber,
        } => {
            let view = tenant(&key).await?;
            let actor_id = super::cli_actor_id();
            let actor = Actor {
                id: &actor_id,
                origin: Origin::default(),
            };
            let one = event.as_deref().zip(subscriber.as_deref());
            let replayed = log.replay(&view, one, &actor).await?;
            if one.is_some() && replayed == 0 {
                anyhow::bail!("no such dead letter");
            }
            println!(
                "replayed {replayed} dead letter(s) of {}",
                view.tenant.subdomain
            );
            Ok(())
        }
    }
}
