//! `mosaic mail list`: the development mailbox.

use clap::Subcommand;

use crate::Config;

#[derive(Subcommand)]
pub enum MailCommand {
    /// The newest messages, newest first.
    List {
        #[arg(long, default_value_t = 10)]
        limit: i64,
    },
}

pub(super) async fn run(config: Config, command: MailCommand) -> anyhow::Result<()> {
    match command {
        MailCommand::List { limit } => list_mail(config, limit).await,
    }
}

async fn list_mail(config: Config, limit: i64) -> anyhow::Result<()> {
    let db = config.open_db().await?;
    db.migrate().await?;
    for mail in db.recent_mail(limit).await? {
        println!(
            "#{} to {} — {}\n{}\n",
            mail.seq, mail.to_email, mail.subject, mail.body
        );
    }
    Ok(())
}
