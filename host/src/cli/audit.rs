//! `mosaic audit ...`: verify and read the hash-chained audit log.

use clap::Subcommand;

use super::print_json;
use crate::Config;
use crate::store::AuditFilter;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the keyed hash chain and report the first row that does not hold.
    Verify {
        /// A head printed earlier by `mosaic audit head` and kept outside the
        /// database: that row must still be there, unchanged, which catches a log
        /// rewritten from scratch.
        #[arg(long)]
        head: Option<crate::store::AuditHead>,
    },
    /// Print the newest sealed row as `seq:sealed_from:hash`, to keep elsewhere (a
    /// ticket, another system's log) for a later `verify --head`.
    Head,
    /// The newest entries.
    List {
        /// A tenant id.
        #[arg(long)]
        tenant: Option<String>,
        /// An action, or a prefix ending in `.` such as `tenant.`.
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

pub(super) async fn run(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let db = config.open_db().await?;
    db.migrate().await?;
    match command {
        AuditCommand::Head => match db.audit_head().await? {
            Some(head) => {
                println!("{head}");
                Ok(())
            }
            None => anyhow::bail!("no row is sealed yet"),
        },
        AuditCommand::Verify { head } => {
            let bar = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} rows checked")?,
            );
            let report = db
                .verify_audit(db.audit_key()?, head.as_ref(), |seen| {
                    if seen % 256 == 0 {
                        bar.set_position(seen);
                    }
                })
                .await?;
            bar.finish_and_clear();
            print_json(&report)?;
            match report.problem {
                Some(problem) => anyhow::bail!(
                    "the audit log does not hold at row {}: {}",
                    problem.seq,
                    problem.reason
                ),
                None => {
                    println!("audit log intact: {} chained rows", report.rows);
                    Ok(())
                }
            }
        }
        AuditCommand::List {
            tenant,
            action,
            limit,
        } => print_json(
            &db.audit_page(&AuditFilter {
                tenant_id: tenant,
                action,
                limit: limit.clamp(1, 1000),
                ..AuditFilter::default()
            })
            .await?,
        ),
    }
}
