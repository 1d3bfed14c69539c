//! The server: builds the application (database, state, router) on its port, serves it with the
//! background jobs, and stops gracefully.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::task::JoinHandle;
use tower_sessions::ExpiredDeletion;

use super::session_store::Store;
use crate::app::AppState;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
use crate::{clerks, guests};

/// The database (migrated), mailer and clock, without a listener: for command-line tasks.
pub async fn open_state(config: Config, overrides: Overrides) -> anyhow::Result<AppState> {
    let db = Db::connect(
        config.database_url.expose(),
        config.database_max_connections,
    )
    .await?;
    db.migrate().await?;
    db.optimize().await?;
    let signature = crate::mail::Signature {
        municipality: config.municipality.clone(),
        contact_phone: config.contact_phone.clone(),
        contact_email: config.contact_email.clone(),
    };
    let mailer = match overrides.mailer {
        Some(m) => m,
        None => Mailer::new(&config.mail, &config.mail_from, super::mail::render)?,
    }
    .with_signature(signature);
    let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let state = AppState::new(db, config, clock, mailer);
    guests::recovery::seal_legacy(&state).await?;
    Ok(state)
}

/// The built application, bound to its port, ready to serve.
pub struct Application {
    listener: std::net::TcpListener,
    port: u16,
    router: Router,
    state: AppState,
    store: Store,
    bootstrap_link: Option<String>,
}

/// What can be swapped when building (tests inject a clock and a mailer).
#[derive(Default)]
pub struct Overrides {
    pub clock: Option<SharedClock>,
    pub mailer: Option<Mailer>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        let listen = config.listen;
        let state = open_state(config, overrides).await?;
        let store = Store::open(&state.db).await?;
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("listening on {listen}"))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let bootstrap_link = clerks::bootstrap_link(&state).await?;
        let orphans = crate::attachments::remove_orphans(&state).await?;
        if orphans > 0 {
            tracing::info!(orphans, "deleted file bytes no channel file stands for");
        }
        // A checkpoint at start covers what the last run wrote after its last checkpoint (a
        // kill -9 skips the one at shutdown).
        checkpoint_to_witness(&state, false, true)
            .await
            .context("taking the start's audit checkpoint")?;
        if state.config.witness_email.is_none() && state.config.witness_url.is_none() {
            tracing::warn!(
                "no audit witness is configured (MADOGUCHI_AUDIT_WITNESS_EMAIL or \
                 MADOGUCHI_AUDIT_WITNESS_URL): the audit trail is tamper-evident only against \
                 people without access to this server; its operator could roll it back or \
                 rewrite it unnoticed"
            );
        }
        let router = crate::router::router(state.clone(), store.clone());
        Ok(Self {
            listener,
            port,
            router,
            state,
            store,
            bootstrap_link,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The one-time link for the first admin, issued at start while no admin exists.
    pub fn bootstrap_link(&self) -> Option<&str> {
        self.bootstrap_link.as_deref()
    }

    /// Serves until SIGTERM or Ctrl-C, then stops gracefully (`serve_until`).
    pub async fn serve(self) -> anyhow::Result<()> {
        self.serve_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes; then stops accepting connections, lets the requests
    /// in flight finish (at most 30 s), lets the sweeper finish the step it is in, and returns.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.store.clone();
        let cleanup: JoinHandle<()> = tokio::spawn(async move {
            let _ = store
                .continuously_delete_expired(tokio::time::Duration::from_secs(600))
                .await;
        });
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let mut checkpoint_stopped = stopped.clone();
        let checkpoint_state = self.state.clone();
        let checkpointer: JoinHandle<()> = tokio::spawn(async move {
            let every =
                tokio::time::Duration::from_secs(checkpoint_state.config.audit_checkpoint_secs);
            // The start's checkpoint was taken and mailed when the application was built.
            let mut mailed = checkpoint_state.now();
            loop {
                let stopping = tokio::select! {
                    _ = tokio::time::sleep(every) => false,
                    _ = checkpoint_stopped.changed() => true,
                };
                let now = checkpoint_state.now();
                let mail = stopping || now - mailed >= crate::audit::witness::MAIL_EVERY_SECS;
                if mail {
                    mailed = now;
                }
                if let Err(e) = checkpoint_to_witness(&checkpoint_state, stopping, mail).await {
                    tracing::error!(error = format!("{e:#}"), "audit checkpoint failed");
                }
                if stopping {
                    break;
                }
            }
        });
        let sweeper_state = self.state.clone();
        let sweeper: JoinHandle<()> = tokio::spawn(async move {
            let every = tokio::time::Duration::from_secs(sweeper_state.config.sweep_secs);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
                if let Err(e) = guests::sweep::sweep(&sweeper_state).await {
                    tracing::error!(error = format!("{e:#}"), "sweeper failed");
                }
                if let Err(e) = sweeper_state.db.optimize().await {
                    tracing::warn!(error = %e, "refreshing planner statistics failed");
                }
            }
        });
        let tls = match &self.state.config.tls {
            Some(files) => {
                Some(tls_acceptor(files).context("reading the TLS certificate and key")?)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let caps = super::listener::Caps::for_this_process();
        super::listener::serve(listener, tls, self.router, caps, shutdown).await;
        tracing::info!("stopped accepting; finishing background work");
        let _ = stop.send(true);
        let _ = sweeper.await;
        let _ = checkpointer.await;
        cleanup.abort();
        Ok(())
    }
}

/// The TLS side of the listener (H1): the certificate chain and key from their PEM files, TLS
/// 1.2 and 1.3 with ring, HTTP/2 offered before HTTP/1.1.
fn tls_acceptor(files: &crate::config::TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading {}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Takes a signed checkpoint of the audit chain now (G7), sends it to the witness's endpoint
/// and mails the newest checkpoint to the witness's mailbox, if they are configured. Unless
/// `always`, an unchanged head writes nothing.
pub async fn checkpoint_now(state: &AppState, always: bool) -> anyhow::Result<()> {
    checkpoint_to_witness(state, always, true).await
}

/// The same, mailing only when `mail`: the mailbox gets the newest checkpoint at least hourly,
/// the endpoint every one.
async fn checkpoint_to_witness(state: &AppState, always: bool, mail: bool) -> anyhow::Result<()> {
    use crate::audit::{checkpoint, witness};
    let config = &state.config;
    let log = &config.audit_checkpoints;
    let taken = checkpoint::take(&state.db, &state.audit_signer, log, state.now(), always).await?;
    if let (Some(cp), Some(url)) = (&taken, &config.witness_url)
        && let Err(e) = witness::post(url, cp).await
    {
        // The next checkpoint carries the chain, so a missed one is caught up then.
        tracing::error!(
            error = format!("{e:#}"),
            "the audit witness did not take a checkpoint"
        );
    }
    if mail && let Some(to) = &config.witness_email {
        let newest = match taken {
            Some(cp) => Some(cp),
            None => checkpoint::newest(log)?,
        };
        if let Some(cp) = newest {
            let m = witness::mail(&cp, &state.audit_signer.public_key(), to);
            state.mailer.send_notice(m, "audit checkpoint").await;
        }
    }
    Ok(())
}

/// Completes on SIGTERM (how service managers stop a process) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
