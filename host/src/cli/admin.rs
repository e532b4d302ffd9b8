//! `mosaic admin create`: platform administrators.

use clap::Subcommand;

use crate::Config;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a SUPER_ADMIN account. The password is prompted for, or read from
    /// standard input when that is not a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform administrator")]
        name: String,
    },
}

pub(super) async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Create { email, name } => create_platform_admin(config, &email, &name).await,
    }
}

async fn create_platform_admin(config: Config, email: &str, name: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let email = email.trim().to_lowercase();
    anyhow::ensure!(
        crate::auth::valid_email(&email),
        "{email:?} is not a valid email address"
    );
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if let Err(problem) = crate::auth::password::check_policy(&password, &email) {
        anyhow::bail!("the password {problem}");
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let db = config.open_db().await?;
    db.migrate().await?;
    let hash = crate::auth::accounts::hash_blocking(
        crate::auth::accounts::queue_of(crate::store::Realm::Platform),
        password,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let id = uuid::Uuid::now_v7().to_string();
    let created = db
        .insert_account(
            crate::store::Realm::Platform,
            &crate::store::NewAccount {
                id: &id,
                email: &email,
                full_name: name,
                role: "SUPER_ADMIN",
                password_hash: &hash,
            },
        )
        .await?;
    anyhow::ensure!(created, "a platform user with email {email} already exists");
    println!("created platform administrator {email} ({id})");
    Ok(())
}
