//! `spawn_app()`: the real server on port 0 with a fresh database (SQLite, or PostgreSQL when
//! `MADOGUCHI_TEST_DATABASE_URL` is set), an injected clock and the outbox; agents with their
//! own cookie jars; typed helpers for the common journeys.

use std::io::Write;
use std::sync::{Arc, Mutex, Once, OnceLock};

use madoguchi::app::AppState;
use madoguchi::audit::Record;
use madoguchi::auth::totp;
use madoguchi::clock::ManualClock;
use madoguchi::config::RawConfig;
use madoguchi::mail::Mailer;
use madoguchi::{Application, Overrides};
use reqwest::header::HeaderMap;

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
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
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

/// Someone who has enrolled: what they know and have.
pub struct Person {
    pub email: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub agent: Agent,
}

impl TestApp {
    pub fn agent(&self) -> Agent {
        Agent::new(&self.base)
    }

    pub fn now(&self) -> i64 {
        use madoguchi::clock::Clock;
        self.clock.now()
    }

    /// The code an authenticator app shows now.
    pub fn code(&self, secret: &[u8]) -> String {
        totp::code_at(secret, self.now()).expect("code")
    }

    /// Moves to the start of the next 30-second step, so a fresh code exists.
    pub fn next_step(&self) {
        let now = self.now();
        self.clock.set((now / 30 + 1) * 30);
    }

    /// Goes through a setup link's two pages; returns the agent signed in, and the secret.
    pub async fn enrol(
        &self,
        link: &str,
        name: Option<&str>,
        email: &str,
        password: &str,
    ) -> Person {
        let agent = self.agent();
        let page = agent.get(link).await;
        assert_eq!(page.status, 200, "setup link opens: {}", page.body);
        let mut fields = vec![("password", password), ("password_confirm", password)];
        if let Some(n) = name {
            fields.push(("name", n));
            fields.push(("email", email));
        }
        let page = agent.post(link, &fields).await;
        assert_eq!(page.status, 303, "password step: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/setup/authenticator"));
        let page = agent.get("/setup/authenticator").await;
        assert_eq!(page.status, 200);
        let key = page.text_of_id("totp-key").expect("key shown as text");
        let secret = totp::parse_display_key(&key).expect("key is base32");
        let page = agent
            .post("/setup/authenticator", &[("code", &self.code(&secret))])
            .await;
        assert_eq!(page.status, 303, "code step: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/staff"));
        Person {
            email: email.to_string(),
            password: password.to_string(),
            secret,
            agent,
        }
    }

    pub async fn setup_admin(&self) -> Person {
        let link = self.bootstrap_link.clone().expect("bootstrap link");
        self.enrol(&link, Some("窓口 花子"), ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
    }

    /// The password step; returns the agent in the TOTP-pending state.
    pub async fn password_step(&self, email: &str, password: &str) -> (Agent, Page) {
        let agent = self.agent();
        agent.get("/staff/signin").await;
        let page = agent
            .post("/staff/signin", &[("email", email), ("password", password)])
            .await;
        (agent, page)
    }

    /// A full sign-in at a fresh TOTP step.
    pub async fn sign_in(&self, person: &Person) -> Agent {
        let (agent, page) = self.password_step(&person.email, &person.password).await;
        assert_eq!(page.status, 303, "password accepted: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/staff/signin/code"));
        self.next_step();
        let page = agent
            .post(
                "/staff/signin/code",
                &[("code", &self.code(&person.secret))],
            )
            .await;
        assert_eq!(page.status, 303, "code accepted: {}", page.main());
        assert_eq!(page.location().as_deref(), Some("/staff"));
        agent
    }

    pub async fn add_department(&self, admin: &Agent, name: &str) -> String {
        admin.get("/staff/departments").await;
        let page = admin.post("/staff/departments", &[("name", name)]).await;
        assert_eq!(page.status, 303, "{}", page.main());
        let id: String = sqlx::query_scalar("select department_id from department where name = $1")
            .bind(name)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("department row");
        id
    }

    /// Adds a clerk through the console; returns the setup link from the mail.
    pub async fn add_clerk(&self, admin: &Agent, email: &str, name: &str, dept: &str) -> String {
        admin.get("/staff/clerks").await;
        let before = self.mails().len();
        let page = admin
            .post(
                "/staff/clerks",
                &[
                    ("email", email),
                    ("name", name),
                    ("role", "clerk"),
                    ("department_id", dept),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.main());
        let mails = self.mails();
        assert_eq!(mails.len(), before + 1);
        let mail = mails
            .into_iter()
            .find(|m| m.to == email.to_lowercase())
            .expect("setup mail");
        link_in(&mail.text).expect("link in mail")
    }

    /// Mail written to the outbox, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let dir = self.dir.path().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| Mail::parse(&std::fs::read(p).expect("eml")))
            .collect()
    }

    pub async fn audit(&self) -> Vec<Record> {
        sqlx::query_as::<_, Record>(
            "select seq, at, actor_kind, actor_id, action, target, channel_id, outcome, source, \
             request_id, detail, prev_hash, hash from audit_event order by seq",
        )
        .fetch_all(&self.state.db.pool)
        .await
        .expect("audit rows")
    }

    pub async fn actions(&self) -> Vec<String> {
        self.audit().await.into_iter().map(|r| r.action).collect()
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("scalar")
    }
}

pub fn link_in(text: &str) -> Option<String> {
    let i = text.find("/setup/")?;
    let start = text[..i].rfind("http")?;
    let end = text[i..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map(|e| i + e)
        .unwrap_or(text.len());
    Some(text[start..end].to_string())
}

pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: String,
}

impl Mail {
    pub fn parse(bytes: &[u8]) -> Self {
        let msg = mail_parser::MessageParser::default()
            .parse(bytes)
            .expect("a parsable message");
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        Mail {
            to,
            subject: msg.subject().unwrap_or_default().to_string(),
            text: msg.body_text(0).map(|c| c.into_owned()).unwrap_or_default(),
            html: msg.body_html(0).map(|c| c.into_owned()).unwrap_or_default(),
            raw: String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

/// A guest who has enrolled, with what they were given.
pub struct GuestPerson {
    pub sign_in_name: String,
    pub password: String,
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
    pub agent: Agent,
}

impl TestApp {
    /// The JST date `days` from now, as a date input holds it.
    pub fn date_in(&self, days: i64) -> String {
        madoguchi::clock::last_day(self.now() + days * 86_400 + 1)
    }

    /// An admin, a department and a clerk in it, both signed in.
    pub async fn clerk_with_department(
        &self,
        dept_name: &str,
        email: &str,
    ) -> (Person, Person, String) {
        let admin = self.setup_admin().await;
        let dept = self.add_department(&admin.agent, dept_name).await;
        let link = self
            .add_clerk(&admin.agent, email, "担当 職員", &dept)
            .await;
        let clerk = self
            .enrol(&link, None, email, "担当職員の長い合言葉です")
            .await;
        (admin, clerk, dept)
    }

    /// Another clerk in a department of their own (created by `admin`).
    pub async fn clerk_in_new_department(
        &self,
        admin: &Agent,
        dept_name: &str,
        email: &str,
    ) -> Person {
        let dept = self.add_department(admin, dept_name).await;
        let link = self.add_clerk(admin, email, "別課 職員", &dept).await;
        self.enrol(&link, None, email, "別の課の職員のための合言葉")
            .await
    }

    pub async fn create_channel(&self, clerk: &Agent, name: &str, ends_in_days: i64) -> String {
        clerk.get("/staff/channels").await;
        let ends = self.date_in(ends_in_days);
        let p = clerk
            .post(
                "/staff/channels",
                &[
                    ("name", name),
                    ("purpose", "病院との連絡のため"),
                    ("ends_on", &ends),
                ],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        p.location()
            .expect("location")
            .rsplit('/')
            .next()
            .expect("id")
            .to_string()
    }

    /// Issues a guest by e-mail; returns the invitation link from the mail.
    pub async fn invite_guest(
        &self,
        clerk: &Agent,
        channel: &str,
        name: &str,
        email: &str,
        permission: &str,
        days: i64,
    ) -> String {
        clerk.get(&format!("/staff/channels/{channel}")).await;
        let expires = self.date_in(days);
        let p = clerk
            .post(
                &format!("/staff/channels/{channel}/guests/new"),
                &[
                    ("name", name),
                    ("organisation", "市立病院"),
                    ("kind", "hospital"),
                    ("email", email),
                    ("permission", permission),
                    ("expires_on", &expires),
                    ("delivery", "email"),
                ],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        let mail = self
            .mails()
            .into_iter()
            .rev()
            .find(|m| m.to == email)
            .expect("invitation mail");
        invite_link_in(&mail.text).expect("link")
    }

    /// Opens the invitation, sets a password, enrols the app and keeps the recovery codes.
    pub async fn enrol_guest(&self, link: &str, password: &str) -> GuestPerson {
        let agent = self.agent();
        let page = agent.get(link).await;
        assert_eq!(page.status, 200, "{}", page.main());
        let sign_in_name = page.text_of_id("sign-in-name").expect("sign-in name shown");
        let p = agent
            .post(
                link,
                &[("password", password), ("password_confirm", password)],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        let page = agent.get("/setup/authenticator").await;
        let key = page.text_of_id("totp-key").expect("key");
        let secret = totp::parse_display_key(&key).expect("secret");
        let p = agent
            .post("/setup/authenticator", &[("code", &self.code(&secret))])
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        assert_eq!(p.location().as_deref(), Some("/setup/recovery-codes"));
        let page = agent.get("/setup/recovery-codes").await;
        let codes: Vec<String> = page
            .body
            .match_indices("<li><code>")
            .map(|(i, _)| {
                let rest = &page.body[i + 10..];
                rest[..rest.find('<').expect("end")].to_string()
            })
            .collect();
        assert_eq!(codes.len(), 10);
        GuestPerson {
            sign_in_name,
            password: password.to_string(),
            secret,
            recovery_codes: codes,
            agent,
        }
    }

    /// Uploads a CSV file of guests to a channel's bulk form, the CSRF token first in the body
    /// as a browser sends it (E10): hospital staff, `permission`, 30 days.
    pub async fn upload_csv(
        &self,
        clerk: &Agent,
        channel: &str,
        csv: impl Into<Vec<u8>>,
        permission: &str,
    ) -> reqwest::Response {
        clerk.get(&format!("/staff/channels/{channel}")).await;
        let form = reqwest::multipart::Form::new()
            .text("csrf", clerk.csrf())
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.into()).file_name("guests.csv"),
            )
            .text("kind", "hospital")
            .text("permission", permission.to_string())
            .text("expires_on", self.date_in(30));
        clerk
            .client
            .post(clerk.url(&format!("/staff/channels/{channel}/guests/bulk")))
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    pub async fn guest_password_step(&self, name: &str, password: &str) -> (Agent, Page) {
        let agent = self.agent();
        agent.get("/signin").await;
        let page = agent
            .post("/signin", &[("email", name), ("password", password)])
            .await;
        (agent, page)
    }

    pub async fn guest_sign_in(&self, g: &GuestPerson) -> Agent {
        let (agent, page) = self.guest_password_step(&g.sign_in_name, &g.password).await;
        assert_eq!(page.status, 303, "{}", page.main());
        assert_eq!(page.location().as_deref(), Some("/signin/code"));
        self.next_step();
        let page = agent
            .post("/signin/code", &[("code", &self.code(&g.secret))])
            .await;
        assert_eq!(page.status, 303, "{}", page.main());
        assert_eq!(page.location().as_deref(), Some("/channel"));
        agent
    }

    pub async fn guest_id(&self, sign_in_name: &str) -> String {
        // A guest's sign-in name, or a clerk's address.
        sqlx::query_scalar(
            "select account_id from guest where sign_in_name = $1 \
             union select account_id from account where email = $1",
        )
        .bind(sign_in_name)
        .fetch_one(&self.state.db.pool)
        .await
        .expect("guest id")
    }

    pub async fn status_of(&self, id: &str) -> String {
        sqlx::query_scalar("select status from account where account_id = $1")
            .bind(id)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("status")
    }
}

pub fn invite_link_in(text: &str) -> Option<String> {
    let i = text.find("/invite/")?;
    let start = text[..i].rfind("http")?;
    let end = text[i..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map(|e| i + e)
        .unwrap_or(text.len());
    Some(text[start..end].to_string())
}
