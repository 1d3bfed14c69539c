//! `spawn_app()`: the real server on port 0 with a fresh database (SQLite, or PostgreSQL when
//! `MADOGUCHI_TEST_DATABASE_URL` is set), an injected clock and the outbox; agents with their
//! own cookie jars; typed helpers for the common journeys.

use std::io::Write;
use std::sync::{Arc, Mutex, Once, OnceLock};

use madoguchi::app::AppState;
use madoguchi::auth::totp;
use madoguchi::clock::ManualClock;
use madoguchi::config::RawConfig;
use madoguchi::mail::Mailer;
use madoguchi::web::server::{Application, Overrides};
use reqwest::header::HeaderMap;

mod accounts;
mod guests;
mod mail;

pub use accounts::*;
pub use guests::*;
pub use mail::*;

/// 2027-01-15, a Friday morning in Japan.
pub const START: i64 = 1_800_000_000;
pub const ADMIN_EMAIL: &str = "admin@city.example.jp";
pub const ADMIN_PASSWORD: &str = "まどぐち 管理者 2027 春";

/// Every log line of the test process, to check secrets never reach a log (A1, G3).
pub fn captured_logs() -> String {
    let buf = LOGS.get_or_init(|| Arc::new(Mutex::new(Vec::new())));
    String::from_utf8_lossy(&buf.lock().expect("logs")).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
static INIT: Once = Once::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_once() {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let buf = LOGS.get_or_init(|| Arc::new(Mutex::new(Vec::new()))).clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=info,hyper=info,h2=info,rustls=info,tower_sessions=info,cookie_store=info,reqwest=info,hyper_util=info")
            .with_writer(move || LogWriter(buf.clone()))
            .try_init();
    });
}

pub fn on_postgres() -> bool {
    std::env::var("MADOGUCHI_TEST_DATABASE_URL").is_ok()
}

/// A fresh database for one test.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("MADOGUCHI_TEST_DATABASE_URL") {
        Ok(base) => {
            let name = format!("madoguchi_t_{}", hex::encode(rand::random::<[u8; 6]>()));
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("create database {name}"))
                .execute(&pool)
                .await
                .expect("create test database");
            pool.close().await;
            let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
            format!("{prefix}/{name}")
        }
        Err(_) => format!("sqlite://{}?mode=rwc", dir.join("madoguchi.db").display()),
    }
}

pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub bootstrap_link: Option<String>,
    /// Whether this app made its PostgreSQL database, and so drops it when the test ends.
    owns_database: bool,
}

impl Drop for TestApp {
    /// Drops the test's own PostgreSQL database, so a run leaves none behind.
    fn drop(&mut self) {
        if self.owns_database {
            drop_database(&self.database_url);
        }
    }
}

/// Drops a test's PostgreSQL database (connections to it are ended first).
pub fn drop_database(url: &str) {
    if !url.starts_with("postgres") {
        return;
    }
    let Some((base, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = format!("{base}/postgres");
    let name = name.to_string();
    // Drop cannot await: a thread with a runtime of its own does the work.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        });
    })
    .join();
}

#[derive(Default)]
pub struct Options {
    pub mailer: Option<Mailer>,
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub dir: Option<tempfile::TempDir>,
    pub database_url: Option<String>,
    pub clock: Option<Arc<ManualClock>>,
    pub max_connections: Option<u32>,
    pub file_max_mb: Option<u64>,
    pub channel_quota_mb: Option<u64>,
    pub municipality: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    /// The audit witness's mailbox and endpoint (G7).
    pub witness_email: Option<String>,
    pub witness_url: Option<String>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// A portal set up as a city runs it: its name and whom guests call or write to.
pub async fn spawn_city_app() -> TestApp {
    spawn_app_with(Options {
        municipality: Some("窓口市".into()),
        contact_phone: Some("0120-000-111".into()),
        contact_email: Some("shimin@city.example.jp".into()),
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    init_once();
    let dir = match opts.dir {
        Some(d) => d,
        None => tempfile::tempdir().expect("tempdir"),
    };
    let owns_database = opts.database_url.is_none();
    let database_url = match opts.database_url {
        Some(u) => u,
        None => fresh_database_url(dir.path()).await,
    };
    let tls = opts.tls.is_some();
    let raw = RawConfig {
        data_dir: Some(dir.path().display().to_string()),
        database_url: Some(database_url.clone()),
        listen: Some("127.0.0.1:0".into()),
        public_url: Some(if tls {
            "https://madoguchi.city.example.jp".into()
        } else {
            "http://madoguchi.city.example.jp".into()
        }),
        tls_cert: opts.tls.as_ref().map(|t| t.0.display().to_string()),
        tls_key: opts.tls.as_ref().map(|t| t.1.display().to_string()),
        database_max_connections: Some(opts.max_connections.unwrap_or(5)),
        file_max_mb: opts.file_max_mb,
        channel_quota_mb: opts.channel_quota_mb,
        municipality: opts.municipality,
        contact_phone: opts.contact_phone,
        contact_email: opts.contact_email,
        audit_witness_email: opts.witness_email,
        audit_witness_url: opts.witness_url,
        ..RawConfig::default()
    };
    let config = raw.resolve().expect("config");
    let clock = opts.clock.unwrap_or_else(|| ManualClock::new(START));
    let app = Application::build_with(
        config,
        Overrides {
            clock: Some(clock.clone()),
            mailer: opts.mailer,
        },
    )
    .await
    .expect("build app");
    let port = app.port();
    let state = app.state().clone();
    let bootstrap_link = app.bootstrap_link().map(str::to_string);
    tokio::spawn(app.serve());
    let scheme = if tls { "https" } else { "http" };
    TestApp {
        base: format!("{scheme}://127.0.0.1:{port}"),

        clock,
        state,
        dir,
        database_url,
        bootstrap_link,
        owns_database,
    }
}

/// A route's path with its parameters filled in.
pub fn fill_route(
    path: &str,
    channel: &str,
    guest: &str,
    request: &str,
    clerk: &str,
    token: &str,
) -> String {
    path.replace("{channel}", channel)
        .replace("{guest}", guest)
        .replace("{request}", request)
        .replace("{id}", clerk)
        .replace("{token}", token)
}

/// A response as a person's browser would have it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// The `<main>` part: what the page says, without per-request tokens in the header.
    pub fn main(&self) -> String {
        let start = self.body.find("<main").unwrap_or(0);
        let end = self.body.find("</main>").unwrap_or(self.body.len());
        let main = &self.body[start..end];
        // The CSRF token differs per session; blank it for comparisons.
        let mut out = String::new();
        let mut rest = main;
        while let Some(i) = rest.find("name=\"csrf\" value=\"") {
            let j = i + "name=\"csrf\" value=\"".len();
            out.push_str(&rest[..j]);
            rest = &rest[j..];
            let end = rest.find('"').unwrap_or(0);
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
    pub fn text_of_id(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}\"");
        let i = self.body.find(&marker)?;
        let rest = &self.body[i..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')?;
        Some(html_unescape(&rest[start..start + end]))
    }
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// One browser: its own cookie jar, no automatic redirects (tests follow them explicitly).
pub struct Agent {
    pub client: reqwest::Client,
    pub base: String,
    pub jar: Arc<reqwest::cookie::Jar>,
    csrf: Mutex<Option<String>>,
}

impl Agent {
    pub fn new(base: &str) -> Self {
        Self::from_address(base, None)
    }

    /// An agent whose connections come from this loopback address (127.0.0.0/8), to play a
    /// person on another machine.
    pub fn from_address(base: &str, address: Option<std::net::IpAddr>) -> Self {
        init_once();
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .local_address(address)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        Self {
            client,
            base: base.to_string(),
            jar,
            csrf: Mutex::new(None),
        }
    }

    /// Sends a file through a channel's file form (the token first, as the page's form does).
    pub async fn send_file(&self, path: &str, name: &str, bytes: Vec<u8>, comment: &str) -> Page {
        let form = reqwest::multipart::Form::new()
            .text("csrf", self.csrf())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            )
            .text("body", comment.to_string());
        let res = self
            .client
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        self.read(res).await
    }

    /// The same browser (its cookies, its connections) talking to another instance.
    pub fn at(&self, base: &str) -> Agent {
        Agent {
            client: self.client.clone(),
            base: base.to_string(),
            jar: self.jar.clone(),
            csrf: Mutex::new(self.csrf.lock().expect("csrf").clone()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if let Some(rest) = path.strip_prefix("http://madoguchi.city.example.jp") {
            format!("{}{rest}", self.base)
        } else if let Some(rest) = path.strip_prefix("https://madoguchi.city.example.jp") {
            format!("{}{rest}", self.base)
        } else if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn read(&self, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + "name=\"csrf\" value=\"".len()..];
            if let Some(end) = rest.find('"') {
                *self.csrf.lock().expect("csrf") = Some(rest[..end].to_string());
            }
        }
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let res = self.client.get(self.url(path)).send().await.expect("GET");
        self.read(res).await
    }

    pub async fn head(&self, path: &str) -> Page {
        let res = self.client.head(self.url(path)).send().await.expect("HEAD");
        self.read(res).await
    }

    pub fn csrf(&self) -> String {
        self.csrf.lock().expect("csrf").clone().unwrap_or_default()
    }

    /// Posts a form with the CSRF token of the last page this agent saw.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST");
        self.read(res).await
    }

    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_string))
            .unwrap_or_default()
    }

    /// A GET sent with exactly this Cookie header (to replay an old cookie).
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Page {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        let res = client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET");
        self.read(res).await
    }
}

/// Starts the portal binary on this data directory and database; returns it and its port. Its
/// console is read to the end (a closed pipe would stop it).
pub fn spawn_portal(dir: &std::path::Path, database_url: &str) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .arg("serve")
        .env("MADOGUCHI_DATA_DIR", dir)
        .env("MADOGUCHI_DATABASE_URL", database_url)
        .env("MADOGUCHI_LISTEN", "127.0.0.1:0")
        .env("MADOGUCHI_PUBLIC_URL", "http://madoguchi.city.example.jp")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start madoguchi");
    let stdout = child.stdout.take().expect("stdout");
    let (port_tx, port_rx) = std::sync::mpsc::channel::<u16>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(p) = line
                .split("listening on port ")
                .nth(1)
                .and_then(|p| p.trim_end_matches(')').parse().ok())
            {
                let _ = port_tx.send(p);
            }
        }
    });
    let port = port_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("port");
    (child, port)
}
