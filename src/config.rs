//! Typed configuration: an optional TOML file (`MADOGUCHI_CONFIG`) overlaid by `MADOGUCHI_*`
//! environment variables. Unknown keys are refused; every key has a default so a bare start works.
//! Secret keys not given are generated once into the data directory and never regenerated.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use serde::Deserialize;

/// Holds a secret; its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where outgoing mail goes.
#[derive(Clone, Debug)]
pub enum MailConfig {
    /// `.eml` files in a folder (the default: `<data dir>/outbox`).
    Outbox(PathBuf),
    /// `smtp://…` or `smtps://…`, credentials included in the URL.
    Smtp(Secret<String>),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Secret<String>,
    pub listen: SocketAddr,
    pub public_url: String,
    pub mail: MailConfig,
    pub mail_from: String,
    pub session_key: Secret<[u8; 64]>,
    pub totp_key: Secret<[u8; 32]>,
    pub tls: Option<TlsFiles>,
    pub invitation_lifetime_secs: i64,
    pub sign_in_rate_per_minute: u32,
    pub database_max_connections: u32,
    /// Longest a guest may be granted at once, in days (D5).
    pub guest_max_days: i64,
    /// Expiry given to a new guest unless the clerk chooses another, in days.
    pub guest_default_days: i64,
    /// Days before expiry on which reminders go out, largest first.
    pub reminder_days: Vec<i64>,
    /// How often the sweeper runs, in seconds.
    pub sweep_secs: u64,
    /// The seed of the Ed25519 key that signs audit checkpoints (G6); never in the database.
    pub audit_key: Secret<[u8; 32]>,
    /// The checkpoint log, outside the database (another disk, ideally).
    pub audit_checkpoints: PathBuf,
    /// How often a checkpoint is taken while the portal runs, in seconds.
    pub audit_checkpoint_secs: u64,
    /// The witness's mailbox (G7): the newest checkpoint is mailed there at least hourly, at
    /// start, at shutdown and on `audit checkpoint`.
    pub witness_email: Option<String>,
    /// The witness's HTTP endpoint (G7): every checkpoint is POSTed there as its signed JSON line.
    pub witness_url: Option<String>,
    /// The municipality's name as people know it (「○○市」), shown with its clerks.
    pub municipality: Option<String>,
    /// The largest file one message may carry, in bytes (F1).
    pub file_max_bytes: u64,
    /// The most all files of one channel may take together, in bytes (F1).
    pub channel_quota_bytes: u64,
    /// The shortest time between two "something new" mails to one member about one channel.
    pub notify_secs: i64,
    /// The shortest time between two acknowledgement reminders for one message (D9).
    pub ack_reminder_every_secs: i64,
    /// The contact guests are given: a phone number and an address (shown in mails).
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Every key, as written in the TOML file; the environment variable is `MADOGUCHI_` + upper case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub mail: Option<String>,
    pub mail_from: Option<String>,
    pub session_key: Option<String>,
    pub totp_key: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub invitation_hours: Option<i64>,
    pub sign_in_rate_per_minute: Option<u32>,
    pub database_max_connections: Option<u32>,
    pub guest_max_days: Option<i64>,
    pub guest_default_days: Option<i64>,
    pub reminder_days: Option<String>,
    pub sweep_seconds: Option<u64>,
    pub audit_key: Option<String>,
    pub audit_checkpoints: Option<String>,
    pub audit_checkpoint_minutes: Option<u64>,
    pub auditor_email: Option<String>,
    pub audit_witness_email: Option<String>,
    pub audit_witness_url: Option<String>,
    pub municipality: Option<String>,
    pub file_max_mb: Option<u64>,
    pub channel_quota_mb: Option<u64>,
    pub notify_minutes: Option<i64>,
    pub ack_reminder_hours: Option<i64>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
}

const KEYS: &[&str] = &[
    "DATA_DIR",
    "DATABASE_URL",
    "LISTEN",
    "PUBLIC_URL",
    "MAIL",
    "MAIL_FROM",
    "SESSION_KEY",
    "TOTP_KEY",
    "TLS_CERT",
    "TLS_KEY",
    "INVITATION_HOURS",
    "SIGN_IN_RATE_PER_MINUTE",
    "DATABASE_MAX_CONNECTIONS",
    "GUEST_MAX_DAYS",
    "GUEST_DEFAULT_DAYS",
    "REMINDER_DAYS",
    "SWEEP_SECONDS",
    "AUDIT_KEY",
    "AUDIT_CHECKPOINTS",
    "AUDIT_CHECKPOINT_MINUTES",
    "AUDITOR_EMAIL",
    "AUDIT_WITNESS_EMAIL",
    "AUDIT_WITNESS_URL",
    "MUNICIPALITY",
    "FILE_MAX_MB",
    "CHANNEL_QUOTA_MB",
    "NOTIFY_MINUTES",
    "ACK_REMINDER_HOURS",
    "CONTACT_PHONE",
    "CONTACT_EMAIL",
    "CONFIG",
];

impl RawConfig {
    /// Reads the optional file named by `MADOGUCHI_CONFIG`, then the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let vars: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("MADOGUCHI_") && !k.starts_with("MADOGUCHI_TEST_"))
            .collect();
        for (k, _) in &vars {
            let key = &k["MADOGUCHI_".len()..];
            if !KEYS.contains(&key) {
                bail!("unknown configuration variable {k}");
            }
        }
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| k == &format!("MADOGUCHI_{name}"))
                .map(|(_, v)| v.clone())
        };
        let mut raw = match get("CONFIG") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading configuration file {path}"))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing configuration file {path}"))?
            }
            None => RawConfig::default(),
        };
        macro_rules! overlay {
            ($field:ident, $name:literal) => {
                if let Some(v) = get($name) {
                    raw.$field = Some(v);
                }
            };
            ($field:ident, $name:literal, parse) => {
                if let Some(v) = get($name) {
                    raw.$field = Some(
                        v.parse()
                            .with_context(|| format!("MADOGUCHI_{} is not a number", $name))?,
                    );
                }
            };
        }
        overlay!(data_dir, "DATA_DIR");
        overlay!(database_url, "DATABASE_URL");
        overlay!(listen, "LISTEN");
        overlay!(public_url, "PUBLIC_URL");
        overlay!(mail, "MAIL");
        overlay!(mail_from, "MAIL_FROM");
        overlay!(session_key, "SESSION_KEY");
        overlay!(totp_key, "TOTP_KEY");
        overlay!(tls_cert, "TLS_CERT");
        overlay!(tls_key, "TLS_KEY");
        overlay!(invitation_hours, "INVITATION_HOURS", parse);
        overlay!(sign_in_rate_per_minute, "SIGN_IN_RATE_PER_MINUTE", parse);
        overlay!(database_max_connections, "DATABASE_MAX_CONNECTIONS", parse);
        overlay!(guest_max_days, "GUEST_MAX_DAYS", parse);
        overlay!(guest_default_days, "GUEST_DEFAULT_DAYS", parse);
        overlay!(reminder_days, "REMINDER_DAYS");
        overlay!(sweep_seconds, "SWEEP_SECONDS", parse);
        overlay!(audit_key, "AUDIT_KEY");
        overlay!(audit_checkpoints, "AUDIT_CHECKPOINTS");
        overlay!(audit_checkpoint_minutes, "AUDIT_CHECKPOINT_MINUTES", parse);
        overlay!(auditor_email, "AUDITOR_EMAIL");
        overlay!(audit_witness_email, "AUDIT_WITNESS_EMAIL");
        overlay!(audit_witness_url, "AUDIT_WITNESS_URL");
        overlay!(municipality, "MUNICIPALITY");
        overlay!(file_max_mb, "FILE_MAX_MB", parse);
        overlay!(channel_quota_mb, "CHANNEL_QUOTA_MB", parse);
        overlay!(notify_minutes, "NOTIFY_MINUTES", parse);
        overlay!(ack_reminder_hours, "ACK_REMINDER_HOURS", parse);
        overlay!(contact_phone, "CONTACT_PHONE");
        overlay!(contact_email, "CONTACT_EMAIL");
        Ok(raw)
    }

    /// Fills defaults, creates the data directory and the key files it needs.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let data_dir = PathBuf::from(self.data_dir.unwrap_or_else(|| "data".into()));
        // Everything the portal writes is private to it (H4), whatever the umask.
        crate::files::private_umask();
        crate::files::private_dir(&data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        crate::files::tighten_existing(&data_dir)?;
        let database_url = self.database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("madoguchi.db").display()
            )
        });
        let listen: SocketAddr = self
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .context("MADOGUCHI_LISTEN must be an address such as 127.0.0.1:8080")?;
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (None, None) => None,
            _ => bail!("MADOGUCHI_TLS_CERT and MADOGUCHI_TLS_KEY must be given together"),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = self
            .public_url
            .unwrap_or_else(|| format!("{scheme}://{listen}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("MADOGUCHI_PUBLIC_URL must start with http:// or https://");
        }
        let mail = match self.mail.as_deref() {
            None | Some("outbox") => MailConfig::Outbox(data_dir.join("outbox")),
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                MailConfig::Smtp(Secret::new(url.to_string()))
            }
            Some(_) => bail!("MADOGUCHI_MAIL must be `outbox`, smtp://… or smtps://…"),
        };
        let session_key = key_from(self.session_key, &data_dir.join("session.key"))?;
        let totp_key = key_from(self.totp_key, &data_dir.join("totp.key"))?;
        let audit_key = key_from(self.audit_key, &data_dir.join("audit-signing.key"))?;
        let audit_checkpoints = self
            .audit_checkpoints
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("audit-checkpoints.jsonl"));
        let checkpoint_minutes = self.audit_checkpoint_minutes.unwrap_or(10);
        if !(1..=24 * 60).contains(&checkpoint_minutes) {
            bail!("MADOGUCHI_AUDIT_CHECKPOINT_MINUTES must be between 1 and 1440");
        }
        // MADOGUCHI_AUDITOR_EMAIL is the older name of the witness's mailbox.
        let witness_email = match self
            .audit_witness_email
            .as_deref()
            .or(self.auditor_email.as_deref())
            .map(str::trim)
        {
            None | Some("") => None,
            Some(a) => Some(
                crate::accounts::Email::parse(a)
                    .map_err(|_| {
                        anyhow::anyhow!("MADOGUCHI_AUDIT_WITNESS_EMAIL is not an address")
                    })?
                    .as_str()
                    .to_string(),
            ),
        };
        let witness_url = match self.audit_witness_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => Some(u.to_string()),
            Some(_) => bail!("MADOGUCHI_AUDIT_WITNESS_URL must start with https:// or http://"),
        };
        let invitation_hours = self.invitation_hours.unwrap_or(72);
        if !(1..=24 * 30).contains(&invitation_hours) {
            bail!("MADOGUCHI_INVITATION_HOURS must be between 1 and 720");
        }
        let guest_max_days = self.guest_max_days.unwrap_or(90);
        if !(1..=3650).contains(&guest_max_days) {
            bail!("MADOGUCHI_GUEST_MAX_DAYS must be between 1 and 3650");
        }
        let guest_default_days = self.guest_default_days.unwrap_or(30).min(guest_max_days);
        if guest_default_days < 1 {
            bail!("MADOGUCHI_GUEST_DEFAULT_DAYS must be at least 1");
        }
        let mut reminder_days = Vec::new();
        for part in self.reminder_days.as_deref().unwrap_or("7,1").split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let d: i64 = part
                .parse()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .context("MADOGUCHI_REMINDER_DAYS must be days such as 7,1")?;
            reminder_days.push(d);
        }
        reminder_days.sort_unstable_by(|a, b| b.cmp(a));
        reminder_days.dedup();
        Ok(Config {
            guest_max_days,
            guest_default_days,
            reminder_days,
            sweep_secs: self.sweep_seconds.unwrap_or(300).max(1),
            audit_key: Secret::new(audit_key),
            audit_checkpoints,
            audit_checkpoint_secs: checkpoint_minutes * 60,
            witness_email,
            witness_url,
            municipality: self
                .municipality
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| m.chars().take(60).collect()),
            file_max_bytes: self.file_max_mb.unwrap_or(20).clamp(1, 1024) * 1024 * 1024,
            channel_quota_bytes: self.channel_quota_mb.unwrap_or(2048).max(1) * 1024 * 1024,
            notify_secs: self.notify_minutes.unwrap_or(15).clamp(1, 24 * 60) * 60,
            ack_reminder_every_secs: self.ack_reminder_hours.unwrap_or(24).clamp(1, 24 * 30) * 3600,
            contact_phone: short(self.contact_phone.as_deref()),
            contact_email: short(self.contact_email.as_deref()),
            data_dir,
            database_url: Secret::new(database_url),
            listen,
            public_url,
            mail,
            // Without a configured sender the address alone; the mailer names it after the
            // municipality when one is configured.
            mail_from: self
                .mail_from
                .unwrap_or_else(|| "madoguchi@localhost".into()),
            session_key: Secret::new(session_key),
            totp_key: Secret::new(totp_key),
            tls,
            invitation_lifetime_secs: invitation_hours * 3600,
            sign_in_rate_per_minute: self.sign_in_rate_per_minute.unwrap_or(30),
            database_max_connections: self.database_max_connections.unwrap_or(8),
        })
    }
}

/// A key given in base64, or else read from (or, the first time, generated into) a file.
fn key_from<const N: usize>(given: Option<String>, file: &Path) -> anyhow::Result<[u8; N]> {
    let encoded = match given {
        Some(v) => v,
        None => match std::fs::read_to_string(file) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; N];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let encoded = B64.encode(key);
                crate::files::write_private(file, &encoded)?;
                encoded
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        },
    };
    let bytes = B64
        .decode(encoded.trim())
        .with_context(|| format!("key {} is not base64", file.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("key {} must be {N} bytes", file.display()))
}

impl Config {
    /// Whether cookies must be `Secure` with the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.tls.is_some() || self.public_url.starts_with("https://")
    }
}

/// A short optional text setting: trimmed, empty is none, at most 100 characters, no controls.
fn short(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().filter(|c| !c.is_control()).take(100).collect())
}
