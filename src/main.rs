//! The `madoguchi` command: serve the portal, add clerks, verify the audit trail.

use clap::{Parser, Subcommand};
use madoguchi::audit::{self, Actor, Source, Verdict};
use madoguchi::clerks::{self, DepartmentName, Email, PersonName};
use madoguchi::config::RawConfig;
use madoguchi::db::Db;
use madoguchi::web::server::{Application, Overrides};

/// mimalloc instead of the system allocator: a page view makes many small, short-lived
/// allocations (rows, texts, the rendered page) across the async workers and SQLite's threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Check the hash chain against every signed checkpoint; exits 1 naming the first missing,
    /// edited or rolled-back record, or a checkpoint line whose signature fails.
    Verify {
        /// An exported trail (`audit export`) to check instead of the database: with
        /// `--public-key` and `--checkpoints`, no configuration or running portal is needed.
        #[arg(long)]
        trail: Option<std::path::PathBuf>,
        /// The checkpoint log (default: the configured one).
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
        /// The checkpoint key's public half, base64 (default: the configured key's).
        #[arg(long)]
        public_key: Option<String>,
        /// The witness's copy of the checkpoints: a JSON-lines file (an HTTP witness's), or a
        /// folder of the checkpoint mails saved as `.eml`. Names a log cut back, emptied or
        /// deleted, a database rolled back, and a chain rewritten and re-signed.
        #[arg(long)]
        witness: Option<std::path::PathBuf>,
    },
    /// Sign the chain's head now and append it to the checkpoint log.
    Checkpoint,
    /// Print the public key that checks the checkpoints, for auditors.
    PublicKey,
    /// Write every record to standard output, one JSON object per line.
    Export,
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
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Audit {
        command:
            AuditCommand::Verify {
                trail,
                checkpoints,
                public_key,
                witness,
            },
    } = command
    {
        return verify(trail, checkpoints, public_key, witness).await;
    }
    let config = RawConfig::from_env()?.resolve()?;
    match command {
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
            let state = &madoguchi::web::server::open_state(config, Overrides::default()).await?;
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
        // Handled above, before the configuration is read.
        Command::Audit {
            command: AuditCommand::Verify { .. },
        } => {}
        Command::Audit {
            command: AuditCommand::Checkpoint,
        } => {
            let state = madoguchi::web::server::open_state(config, Overrides::default()).await?;
            madoguchi::web::server::checkpoint_now(&state, true).await?;
            let (seq, hash) = audit::head(&state.db).await?;
            println!("checkpoint: record {seq} {hash}");
        }
        Command::Audit {
            command: AuditCommand::PublicKey,
        } => {
            let signer = audit::checkpoint::Signer::new(config.audit_key.expose());
            println!("{}", signer.public_key());
        }
        Command::Audit {
            command: AuditCommand::Export,
        } => {
            let db = Db::connect(config.database_url.expose(), 2).await?;
            db.migrate().await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let n = audit::export(&db, &mut out).await?;
            std::io::Write::flush(&mut out)?;
            eprintln!("exported {n} records");
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `audit verify`: against the database and the configured checkpoints, or against an exported
/// trail with a given key and log (no configuration read at all).
async fn verify(
    trail: Option<std::path::PathBuf>,
    checkpoints: Option<std::path::PathBuf>,
    public_key: Option<String>,
    witness: Option<std::path::PathBuf>,
) -> anyhow::Result<std::process::ExitCode> {
    let offline = trail.is_some() && checkpoints.is_some() && public_key.is_some();
    let config = if offline {
        None
    } else {
        Some(RawConfig::from_env()?.resolve()?)
    };
    let key = match (&public_key, &config) {
        (Some(k), _) => audit::checkpoint::public_key(k)?,
        (None, Some(c)) => audit::checkpoint::public_key(
            &audit::checkpoint::Signer::new(c.audit_key.expose()).public_key(),
        )?,
        (None, None) => anyhow::bail!("--public-key is needed"),
    };
    let log = match (&checkpoints, &config) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c.audit_checkpoints.clone(),
        (None, None) => anyhow::bail!("--checkpoints is needed"),
    };
    let cps = match audit::checkpoint::read_log(&log, &key)? {
        Ok(cps) => cps,
        Err(bad) => {
            println!(
                "BROKEN checkpoint log {} line {}: {}",
                log.display(),
                bad.line,
                bad.reason
            );
            return Ok(std::process::ExitCode::from(1));
        }
    };
    // The witness's copy first: what it holds must stand in the log as it was sent (G7).
    if let Some(path) = &witness {
        let held = audit::checkpoint::read_witness(path, &key)?;
        if let Err(reason) = audit::checkpoint::compare_with_witness(&cps, &held) {
            println!("BROKEN checkpoint log {}: {reason}", log.display());
            return Ok(std::process::ExitCode::from(1));
        }
        eprintln!(
            "{} checkpoints of the witness's copy ({}) stand in the log",
            held.len(),
            path.display()
        );
    }
    let progress = |n: i64| eprintln!("… {n} records checked");
    let verdict = match (&trail, &config) {
        (Some(path), _) => verify_trail(path, &cps, progress)?,
        (None, Some(c)) => {
            let db = Db::connect(c.database_url.expose(), 2).await?;
            db.migrate().await?;
            audit::verify_with(&db, &cps, progress).await?
        }
        (None, None) => anyhow::bail!("--trail or a configured database is needed"),
    };
    match verdict {
        Verdict::Intact { records } => {
            // Records with no checkpoint at all: the log was emptied or deleted (G7).
            let covered = cps.iter().map(|cp| cp.seq).max().unwrap_or(0);
            if records > 0 && covered == 0 {
                println!(
                    "BROKEN checkpoint log {}: it holds no checkpoint, yet the trail has {records} \
                     records: the log was emptied or deleted",
                    log.display()
                );
                return Ok(std::process::ExitCode::from(1));
            }
            println!("OK: {records} records, chain intact");
            eprintln!("{} signed checkpoints match ({})", cps.len(), log.display());
            if records > covered {
                eprintln!(
                    "{} records after the newest checkpoint are not covered by one yet",
                    records - covered
                );
            }
            if witness.is_none() {
                eprintln!(
                    "No witness copy given (--witness): a trail rolled back with its checkpoint \
                     log, or rewritten and re-signed with this server's key, is found only \
                     against the witness's copy."
                );
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Verdict::Broken { seq, reason } => {
            println!("BROKEN at record {seq}: {reason}");
            Ok(std::process::ExitCode::from(1))
        }
    }
}

/// Walks an exported trail file against the checkpoints.
fn verify_trail(
    path: &std::path::Path,
    cps: &[audit::checkpoint::Checkpoint],
    mut progress: impl FnMut(i64),
) -> anyhow::Result<Verdict> {
    use std::io::BufRead;
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let mut walk = audit::Walk::new(cps);
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: audit::Record = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!(
                "line {} of {} is not a record: {e}",
                walk.records() + 1,
                path.display()
            )
        })?;
        if let Err(broken) = walk.push(&rec) {
            return Ok(broken);
        }
        if walk.records() % 100_000 == 0 {
            progress(walk.records());
        }
    }
    Ok(walk.finish(None))
}
