//! The `madoguchi` command: serve the portal, add clerks, verify the audit trail.

use clap::{Parser, Subcommand};
use madoguchi::audit::{self, Actor, Source, Verdict};
use madoguchi::clerks::{self, DepartmentName, Email, PersonName};
use madoguchi::config::RawConfig;
use madoguchi::db::Db;
use madoguchi::{Application, Overrides};

#[derive(Parser)]
#[command(name = "madoguchi", about = "Madoguchi (窓口) guest portal")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal (the default).
    Serve,
    /// Manage clerks.
    Clerk {
        #[command(subcommand)]
        command: ClerkCommand,
    },
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum ClerkCommand {
    /// Add a clerk and print their one-time setup link.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin: bool,
        /// Department name; created if it does not exist yet.
        #[arg(long)]
        department: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits 1 at the first broken record.
    Verify,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("madoguchi: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let config = RawConfig::from_env()?.resolve()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build_with(config, Overrides::default()).await?;
            let state = app.state();
            println!(
                "Madoguchi: {} (listening on port {})",
                state.config.public_url,
                app.port()
            );
            if let Some(link) = app.bootstrap_link() {
                println!();
                println!(
                    "管理者がまだいません。次の一回限りのリンクで最初の管理者を設定してください:"
                );
                println!(
                    "No administrator exists yet. Set up the first one with this one-time link:"
                );
                println!("  {link}");
                println!();
            }
            app.serve().await?;
        }
        Command::Clerk {
            command:
                ClerkCommand::Add {
                    email,
                    name,
                    admin,
                    department,
                },
        } => {
            let email = Email::parse(&email)
                .map_err(|k| anyhow::anyhow!("--email: {}", madoguchi::i18n::Lang::En.t(k)))?;
            let name = PersonName::parse(&name)
                .map_err(|k| anyhow::anyhow!("--name: {}", madoguchi::i18n::Lang::En.t(k)))?;
            let state = &madoguchi::open_state(config, Overrides::default()).await?;
            let department_id = match department {
                Some(d) => {
                    let d = DepartmentName::parse(&d).map_err(|k| {
                        anyhow::anyhow!("--department: {}", madoguchi::i18n::Lang::En.t(k))
                    })?;
                    Some(
                        clerks::department_named(state, &Actor::Operator, &Source::default(), &d)
                            .await?,
                    )
                }
                None => None,
            };
            if !admin && department_id.is_none() {
                anyhow::bail!("a clerk who is not an admin needs --department");
            }
            match clerks::add_clerk(
                state,
                &Actor::Operator,
                &Source::default(),
                &email,
                &name,
                admin,
                department_id.as_deref(),
            )
            .await?
            {
                Ok(added) => {
                    println!("{}", added.link);
                }
                Err(e) => anyhow::bail!("could not add the clerk: {e:?}"),
            }
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let db = Db::connect(config.database_url.expose(), 2).await?;
            db.migrate().await?;
            match audit::verify(&db).await? {
                Verdict::Intact { records } => println!("OK: {records} records, chain intact"),
                Verdict::Broken { seq, reason } => {
                    println!("BROKEN at record {seq}: {reason}");
                    return Ok(std::process::ExitCode::from(1));
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
