//! The benchmark: seeds a city, starts the release portal on loopback, signs a guest and a clerk
//! in, drives their pages with `wrk`, and sets every figure against a baseline measured in the
//! same run — a bare page of the same stack (axum + askama, 50 rows read from SQLite, no
//! session). Run it with `bash bench/run` (see bench/README.md); `--smoke` is the seconds-long
//! version CI runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use askama::Template;
use axum::extract::State;
use axum::response::Html;
use madoguchi::accounts::{Role, Status, store as accounts};
use madoguchi::auth::{password, totp};
use madoguchi::channels::store::{self as channels, NewChannel};
use madoguchi::clerks::store::{self as clerks, NewClerk};
use madoguchi::config::RawConfig;
use madoguchi::guests::store::{self as guests, NewGuest};
use madoguchi::guests::{Kind, Permission};
use madoguchi::web::server::{Overrides, open_state};

/// The baseline runs in this process, on the allocator the portal uses (src/main.rs), so the
/// two are the same stack.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How big a city to seed and how long to drive each page.
struct Size {
    departments: usize,
    channels: usize,
    guests: usize,
    messages: usize,
    audit: usize,
    seconds: u64,
}

const SURNAMES: &[&str] = &[
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
];
const GIVEN: &[&str] = &[
    "太郎",
    "花子",
    "健一",
    "美咲",
    "翔太",
    "陽菜",
    "大輔",
    "結衣",
    "誠",
    "さくら",
    "蓮",
    "葵",
];
const PLACES: &[&str] = &[
    "市立病院",
    "中央小学校",
    "第二中学校",
    "青葉クリニック",
    "駅前商店会",
    "北避難所",
    "南地区自治会",
];
const PASSWORD: &str = "ベンチマーク用の合言葉 2027";

fn name(i: usize) -> String {
    format!(
        "{} {}",
        SURNAMES[i % SURNAMES.len()],
        GIVEN[(i / SURNAMES.len()) % GIVEN.len()]
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    // `--empty`: the same runs on a city of a few guests, to set the seeded figures against.
    let empty = args.iter().any(|a| a == "--empty");
    let audit = args.iter().any(|a| a == "--audit-records");
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .and_then(|i| args.get(i + 1).cloned());
    let size = if smoke || empty {
        Size {
            departments: 1,
            channels: 3,
            guests: 30,
            messages: 300,
            audit: 0,
            seconds: if smoke { 2 } else { 20 },
        }
    } else {
        Size {
            departments: 10,
            channels: 2_000,
            guests: 100_000,
            messages: 1_000_000,
            audit: if audit { 10_000_000 } else { 0 },
            seconds: 20,
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir()?;
    // `--keep DIR` seeds into DIR once and reuses it on later runs (for profiling).
    let kept = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let data = kept.clone().unwrap_or_else(|| work.path().join("data"));
    let database_url = postgres
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data.join("madoguchi.db").display()));
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");

    eprintln!(
        "== seeding {} guests, {} messages",
        size.guests, size.messages
    );
    let seeded = Instant::now();
    let saved = data.join("bench-city.json");
    let city: City = match std::fs::read(&saved) {
        Ok(bytes) if kept.is_some() => serde_json::from_slice(&bytes)?,
        _ => {
            let city = seed(&data, &database_url, &base, &size).await?;
            std::fs::write(&saved, serde_json::to_vec(&city)?)?;
            city
        }
    };
    eprintln!("   ready in {:.1} s", seeded.elapsed().as_secs_f64());

    let baseline_port = free_port()?;
    let baseline_db = work.path().join("baseline.db");
    tokio::spawn(baseline(baseline_db, baseline_port));
    wait_ready(&format!("http://127.0.0.1:{baseline_port}/rows")).await?;
    let baseline_url = format!("http://127.0.0.1:{baseline_port}/rows");
    // Warm both sides of the loopback before the first measured slice.
    wrk(&baseline_url, None, 2, 64)?;

    let started = Instant::now();
    let mut portal = start_portal(&root, &data, &database_url, port)?;
    wait_ready(&format!("{base}/signin")).await?;
    let ready = started.elapsed();

    let guest_cookie = sign_in(&base, "/signin", &city.guest_name, &city.guest_secret).await?;
    let clerk_cookie = sign_in(
        &base,
        "/staff/signin",
        &city.clerk_email,
        &city.clerk_secret,
    )
    .await?;
    let guest_page = format!("{base}/c/{}", city.channel_id);
    let clerk_page = format!("{base}/staff/channels/{}", city.channel_id);
    let clerk_list = format!("{base}/staff/guests?status=invited&page=3");
    // `--serve`: keep the signed-in portal running for profiling by hand (perf, wrk).
    if args.iter().any(|a| a == "--serve") {
        eprintln!("guest page  {guest_page}\n  Cookie: {guest_cookie}");
        eprintln!("clerk page  {clerk_page}\nclerk list  {clerk_list}\n  Cookie: {clerk_cookie}");
        eprintln!("portal pid {}; stop it to end", portal.id());
        portal.wait()?;
        return Ok(());
    }
    // Each page runs in slices, each slice right after a slice of the baseline, so the two
    // meet the same machine: on a shared host the baseline alone moved between 8,300 and
    // 13,900 req/s from one run to the next.
    let mut rows = vec![];
    let mut bases = vec![];
    for (what, url, cookie) in [
        ("guest channel page", &guest_page, &guest_cookie),
        ("clerk channel page", &clerk_page, &clerk_cookie),
        (
            "clerk guest list: department of 10,000 guests, status filter, page 4",
            &clerk_list,
            &clerk_cookie,
        ),
    ] {
        check_page(url, cookie).await?;
        let (run, base) = beside_baseline(url, cookie, &baseline_url, size.seconds)?;
        rows.push((what.to_string(), run, Some(base.clone())));
        bases.push(base);
    }
    let rss_pages = peak_rss(portal.id());
    // The guest page again while 20 people sign in at once (password hashing must stay off
    // the async workers and bounded), and the sign-ins' own figures.
    let (alone, under_load, sign_ins) = with_sign_ins(
        &base,
        &city.guest_name,
        &guest_page,
        &guest_cookie,
        size.seconds,
    )
    .await?;
    let raised = format!(
        "20 sign-ins at once took the guest channel page's p99 from {:.1} ms (its slices run \
         between theirs) to {:.1} ms: {:.2}× (the target is at most 2×).\n",
        alone.p99_ms,
        under_load.p99_ms,
        under_load.p99_ms / alone.p99_ms
    );
    rows.push((
        "guest channel page, in slices between those with sign-ins".to_string(),
        alone,
        bases.first().cloned(),
    ));
    rows.push((
        "guest channel page while 20 sign-ins run at once".to_string(),
        under_load,
        bases.first().cloned(),
    ));
    rows.push((
        "sign-ins (password step), 20 at once, meanwhile".to_string(),
        sign_ins,
        None,
    ));
    let rss = peak_rss(portal.id());
    stop(&mut portal);

    let engine = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let command = std::iter::once("bash bench/run".to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let label = if smoke {
        " (smoke)"
    } else if empty {
        " (a city of a few guests, to compare with the seeded one)"
    } else {
        ""
    };
    let base_run = Run::of_slices(&bases);
    rows.insert(
        0,
        (
            "baseline: axum + askama, 50 rows from SQLite, no session (all its slices)".to_string(),
            base_run,
            None,
        ),
    );
    let mut table = report(
        &rows,
        &size,
        engine,
        ready,
        (rss_pages, rss),
        label,
        &command,
    );
    table.push('\n');
    table.push_str(&raised);
    println!("{table}");
    if !smoke && !args.iter().any(|a| a == "--no-write") {
        let results = root.join("bench").join("RESULTS.md");
        let old = std::fs::read_to_string(&results).unwrap_or_default();
        std::fs::write(&results, format!("{table}\n{old}"))?;
        eprintln!("written to {}", results.display());
    }
    Ok(())
}

/// The seeded city's one guest and clerk who sign in for the run.
#[derive(serde::Serialize, serde::Deserialize)]
struct City {
    channel_id: String,
    guest_name: String,
    guest_secret: Vec<u8>,
    clerk_email: String,
    clerk_secret: Vec<u8>,
}

async fn seed(data: &Path, database_url: &str, base: &str, size: &Size) -> anyhow::Result<City> {
    let raw = RawConfig {
        data_dir: Some(data.display().to_string()),
        database_url: Some(database_url.to_string()),
        public_url: Some(base.to_string()),
        ..RawConfig::default()
    };
    let state = open_state(raw.resolve()?, Overrides::default()).await?;
    let db = &state.db;
    let now = state.now();
    let step = now / 30 - 10;
    let hash = password::hash(PASSWORD.to_string()).await?;
    let mut tx = db.begin().await?;
    const DEPARTMENTS: &[&str] = &[
        "防災危機管理課",
        "健康推進課",
        "学校教育課",
        "商工振興課",
        "福祉総務課",
        "子育て支援課",
        "地域振興課",
        "環境政策課",
        "市民協働課",
        "情報政策課",
    ];
    let mut depts = vec![];
    for d in 0..size.departments {
        depts.push(
            clerks::insert_department(&mut tx, DEPARTMENTS[d % DEPARTMENTS.len()], now).await?,
        );
    }
    let dept = depts[0].clone();
    let clerk_email = "bench.clerk@city.example.lg.jp".to_string();
    let clerk = clerks::insert_clerk(
        &mut tx,
        &NewClerk {
            email: &clerk_email,
            name: "窓口 担当",
            role: Role::Clerk,
            department_id: Some(&dept),
            status: Status::Invited,
        },
        now,
    )
    .await?;
    let clerk_secret = totp::generate_secret();
    let sealed = state.secrets.seal(&clerk, &clerk_secret)?;
    accounts::complete_enrolment(&mut tx, &clerk, &hash, &sealed, step).await?;
    let mut channel_ids = vec![];
    for c in 0..size.channels {
        let id = channels::insert(
            &mut tx,
            &NewChannel {
                department_id: &depts[c % depts.len()],
                name: &format!("{} 連絡 {c}", PLACES[c % PLACES.len()]),
                purpose: "災害時の受け入れ調整と連絡",
                ends_at: now + 200 * 86_400,
                created_by: &clerk,
            },
            now,
        )
        .await?;
        channel_ids.push(id);
    }
    tx.commit().await?;
    let mut guest_name = String::new();
    let mut guest_secret = vec![];
    let mut tx = db.begin().await?;
    for g in 0..size.guests {
        let channel = &channel_ids[g % channel_ids.len()];
        let sign_in = format!("guest{g}@example.jp");
        let id = guests::insert(
            &mut tx,
            &NewGuest {
                channel_id: channel,
                sign_in_name: &sign_in,
                has_email: true,
                name: &name(g),
                organisation: PLACES[g % PLACES.len()],
                kind: Kind::Hospital,
                permission: Permission::Post,
                sponsor_id: &clerk,
                expires_at: now + 30 * 86_400 + (g as i64 % 60) * 86_400,
                lang: madoguchi::i18n::Lang::Ja,
            },
            now,
        )
        .await?;
        if g == 0 {
            guest_secret = totp::generate_secret();
            let sealed = state.secrets.seal(&id, &guest_secret)?;
            accounts::complete_enrolment(&mut tx, &id, &hash, &sealed, step).await?;
            guests::mark_enrolled(&mut tx, &id, now).await?;
            guest_name = sign_in;
        }
        if g % 5_000 == 4_999 {
            tx.commit().await?;
            tx = db.begin().await?;
        }
    }
    for m in 0..size.messages {
        let channel = &channel_ids[m % channel_ids.len()];
        let body = format!("{}です。受け入れ可能な人数を更新しました（{m}）。", name(m));
        madoguchi::messages::store::insert(&mut tx, channel, &clerk, &body, now - 1000 + m as i64)
            .await?;
        if m % 5_000 == 4_999 {
            tx.commit().await?;
            tx = db.begin().await?;
        }
    }
    tx.commit().await?;
    let source = madoguchi::audit::Source::default();
    let event = madoguchi::audit::Event::new(
        madoguchi::audit::Actor::System,
        "bench.seed",
        madoguchi::audit::Outcome::Success,
    );
    let mut done = 0;
    while done < size.audit {
        let n = (size.audit - done).min(5_000);
        let items: Vec<_> = (0..n).map(|_| (now, &source, &event)).collect();
        let mut tx = db.begin().await?;
        madoguchi::audit::append(&mut tx, &items).await?;
        tx.commit().await?;
        done += n;
    }
    db.optimize().await?;
    Ok(City {
        channel_id: channel_ids[0].clone(),
        guest_name,
        guest_secret,
        clerk_email,
        clerk_secret,
    })
}

#[derive(Template)]
#[template(
    source = "<!doctype html><title>rows</title><table>{% for (id, name, body) in rows %}<tr><td>{{ id }}</td><td>{{ name }}</td><td>{{ body }}</td></tr>{% endfor %}</table>",
    ext = "html"
)]
struct RowsPage {
    rows: Vec<(i64, String, String)>,
}

/// The baseline: the same stack with nothing of the portal — 50 rows read and rendered.
async fn baseline(file: PathBuf, port: u16) -> anyhow::Result<()> {
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let db = madoguchi::db::Db::connect(&url, 8).await?;
    sqlx::query("create table row_item (id integer primary key, name text, body text)")
        .execute(&db.pool)
        .await?;
    for i in 0..50 {
        sqlx::query("insert into row_item (id, name, body) values ($1, $2, $3)")
            .bind(i as i64)
            .bind(name(i))
            .bind(format!("受け入れ可能な人数を更新しました（{i}）。"))
            .execute(&db.pool)
            .await?;
    }
    async fn rows(State(db): State<madoguchi::db::Db>) -> Html<String> {
        let rows = sqlx::query_as("select id, name, body from row_item order by id limit 50")
            .fetch_all(&db.pool)
            .await
            .unwrap_or_default();
        Html(RowsPage { rows }.render().unwrap_or_default())
    }
    let app = axum::Router::new()
        .route("/rows", axum::routing::get(rows))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_portal(root: &Path, data: &Path, database_url: &str, port: u16) -> anyhow::Result<Child> {
    // `bench/run` says which build to drive: release, or the test build for `--smoke`.
    let bin = std::env::var_os("BENCH_PORTAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/madoguchi"));
    if !bin.exists() {
        bail!(
            "{} is missing: run bench/run, which builds it",
            bin.display()
        );
    }
    Command::new(bin)
        .env("MADOGUCHI_DATA_DIR", data)
        .env("MADOGUCHI_DATABASE_URL", database_url)
        .env("MADOGUCHI_LISTEN", format!("127.0.0.1:{port}"))
        .env("MADOGUCHI_DATABASE_MAX_CONNECTIONS", "8")
        // Every load comes from 127.0.0.1: the per-address sign-in limit would answer 429.
        .env("MADOGUCHI_SIGN_IN_RATE_PER_MINUTE", "1000000")
        .env(
            "RUST_LOG",
            std::env::var("BENCH_PORTAL_LOG").unwrap_or_else(|_| "warn".to_string()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the portal")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{url} did not answer")
}

/// The value of the form's CSRF field in a page.
fn csrf_in(html: &str) -> anyhow::Result<String> {
    let i = html
        .find("name=\"csrf\" value=\"")
        .context("no csrf field")?;
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    Ok(rest[..rest.find('"').context("csrf value")?].to_string())
}

/// Signs in through the real pages; returns the cookie header the session needs.
async fn sign_in(base: &str, path: &str, name: &str, secret: &[u8]) -> anyhow::Result<String> {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let code_path = password_step(&client, base, path, name, false).await?;
    let page = client
        .get(format!("{base}{code_path}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_in(&page)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let code = totp::code_at(secret, now)?;
    let res = client
        .post(format!("{base}{code_path}"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await?;
    if !res.status().is_redirection() {
        bail!("the code was not accepted at {path}");
    }
    use reqwest::cookie::CookieStore;
    let url = reqwest::Url::parse(base)?;
    let cookie = jar.cookies(&url).context("no session cookie")?;
    Ok(cookie.to_str()?.to_string())
}

/// The page alone and the page while 20 clients sign in over and over (the password step, with
/// the right password), in alternating slices like `beside_baseline`, so both halves meet the
/// same machine: (the page alone, the page during the sign-ins, the sign-ins' rate and latency).
async fn with_sign_ins(
    base: &str,
    name: &str,
    page: &str,
    cookie: &str,
    seconds: u64,
) -> anyhow::Result<(Run, Run, Run)> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let slices = if seconds >= 20 { 4 } else { 1 };
    let times = Arc::new(Mutex::new(Vec::<f64>::new()));
    let failed = Arc::new(AtomicBool::new(false));
    let (mut alone, mut during) = (vec![], vec![]);
    let mut signing = 0.0;
    let slice = || {
        let (url, c) = (page.to_string(), cookie.to_string());
        tokio::task::spawn_blocking(move || wrk(&url, Some(&c), seconds / slices, 64))
    };
    for _ in 0..slices {
        alone.push(slice().await??);
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (stop, times, failed) = (stop.clone(), times.clone(), failed.clone());
                tokio::spawn(sign_in_over_and_over(
                    base.to_string(),
                    name.to_string(),
                    stop,
                    times,
                    failed,
                ))
            })
            .collect();
        let started = Instant::now();
        during.push(slice().await??);
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        signing += started.elapsed().as_secs_f64();
        if let (Some(a), Some(d)) = (alone.last(), during.last()) {
            eprintln!(
                "   slice: page alone {:.0} req/s p99 {:.1} ms, during sign-ins {:.0} req/s p99 {:.1} ms",
                a.rps, a.p99_ms, d.rps, d.p99_ms
            );
        }
    }
    let mut t = times.lock().map(|t| t.clone()).unwrap_or_default();
    t.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        t.get(((t.len() as f64 * p) as usize).min(t.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let sign_ins = Run {
        rps: t.len() as f64 / signing,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors: failed.load(Ordering::Relaxed),
    };
    Ok((Run::of_slices(&alone), Run::of_slices(&during), sign_ins))
}

/// One person signing in until `stop`: their times go to `times`, a failure sets `failed`.
/// One client, as one browser: each sign-in starts without cookies (`password_step` carries
/// them), so the load generator spends its share of the cores on requests, not on building a
/// client per sign-in.
async fn sign_in_over_and_over(
    base: String,
    name: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    times: std::sync::Arc<std::sync::Mutex<Vec<f64>>>,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let signed = match &client {
            Ok(c) => password_step(c, &base, "/signin", &name, true).await,
            Err(_) => Err(anyhow::anyhow!("no client")),
        };
        match signed {
            Ok(_) => {
                if let Ok(mut t) = times.lock() {
                    t.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Err(_) => failed.store(true, Ordering::Relaxed),
        }
    }
}

/// One sign-in's password step through the real pages, as a browser makes it; returns where
/// the code step is. With `carry_cookies` the sign-in page's cookies are read from its answer
/// and sent with the form, for a client that keeps none (someone who has not visited before).
async fn password_step(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    name: &str,
    carry_cookies: bool,
) -> anyhow::Result<String> {
    let page = client.get(format!("{base}{path}")).send().await?;
    let cookies = carry_cookies.then(|| {
        page.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .collect::<Vec<_>>()
            .join("; ")
    });
    let csrf = csrf_in(&page.text().await?)?;
    let mut form = client.post(format!("{base}{path}"));
    if let Some(c) = cookies {
        form = form.header("cookie", c);
    }
    let res = form
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", name),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    Ok(res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .filter(|_| res.status().is_redirection())
        .context("the password was not accepted")?
        .to_string())
}

async fn check_page(url: &str, cookie: &str) -> anyhow::Result<()> {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(url)
        .header("cookie", cookie)
        .send()
        .await?;
    if res.status() != 200 {
        bail!("{url} answered {} before the run", res.status());
    }
    Ok(())
}

/// One wrk run's figures.
#[derive(Clone, Debug)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: bool,
}

impl Run {
    /// Slices of equal length as one run: the mean rate, the median p50 and the worst p99.
    fn of_slices(slices: &[Run]) -> Run {
        let n = slices.len().max(1) as f64;
        let mut p50: Vec<f64> = slices.iter().map(|r| r.p50_ms).collect();
        p50.sort_by(f64::total_cmp);
        Run {
            rps: slices.iter().map(|r| r.rps).sum::<f64>() / n,
            p50_ms: p50.get(p50.len() / 2).copied().unwrap_or(f64::NAN),
            p99_ms: slices.iter().map(|r| r.p99_ms).fold(f64::NAN, f64::max),
            errors: slices.iter().any(|r| r.errors),
        }
    }
}

/// A page and the baseline in alternating slices (four of a quarter each, or one in the smoke
/// mode), each page slice right after its baseline slice: (the page, the baseline).
fn beside_baseline(
    url: &str,
    cookie: &str,
    baseline_url: &str,
    seconds: u64,
) -> anyhow::Result<(Run, Run)> {
    let slices = if seconds >= 20 { 4 } else { 1 };
    let (mut page, mut base) = (vec![], vec![]);
    for _ in 0..slices {
        base.push(wrk(baseline_url, None, seconds / slices, 64)?);
        page.push(wrk(url, Some(cookie), seconds / slices, 64)?);
        if let (Some(b), Some(p)) = (base.last(), page.last()) {
            eprintln!(
                "   slice: baseline {:.0} req/s, page {:.0} req/s",
                b.rps, p.rps
            );
        }
    }
    Ok((Run::of_slices(&page), Run::of_slices(&base)))
}

fn wrk(url: &str, cookie: Option<&str>, seconds: u64, connections: u32) -> anyhow::Result<Run> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: {c}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .context("running wrk (apt install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("wrk printed no rate:\n{text}"))?;
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p).map(|v| ms(v.trim())))
            .unwrap_or(f64::NAN)
    };
    Ok(Run {
        rps,
        p50_ms: pct("50%"),
        p99_ms: pct("99%"),
        errors: text.contains("Non-2xx") || text.contains("Socket errors"),
    })
}

/// wrk's latency ("812.00us", "3.45ms", "1.20s") in milliseconds.
fn ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "s" => n * 1000.0,
        _ => n,
    }
}

fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
}

fn report(
    rows: &[(String, Run, Option<Run>)],
    size: &Size,
    engine: &str,
    ready: Duration,
    rss: (Option<u64>, Option<u64>),
    label: &str,
    command: &str,
) -> String {
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mut t = format!(
        "## {date} — {engine}{label}\n\n`{command}` · {cores} cores, {cpu} · wrk -t2 -c64 -d{}s on loopback · \
         seeded: {} departments, {} channels, {} guests, {} messages{} · ready {} ms after start · peak RSS of the portal {} MiB during the page runs, {} MiB after the sign-ins\n\n\
         Each page ran in {} slices, each right after a slice of the baseline; × baseline sets the page against the baseline slices run beside it. p50 is the slices' median, p99 their worst.\n\n\
         | page | req/s | baseline req/s beside it | × baseline | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n",
        size.seconds,
        size.departments,
        size.channels,
        size.guests,
        size.messages,
        if size.audit > 0 {
            format!(", {} audit records", size.audit)
        } else {
            String::new()
        },
        ready.as_millis(),
        rss.0.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
        rss.1.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
        if size.seconds >= 20 { "four" } else { "one" },
    );
    for (what, run, base) in rows {
        let (beside, ratio) = base
            .as_ref()
            .map(|b| (format!("{:.0}", b.rps), format!("{:.2}×", run.rps / b.rps)))
            .unwrap_or_else(|| {
                let own = if what.starts_with("baseline") {
                    "1.00×"
                } else {
                    "—"
                };
                ("—".into(), own.into())
            });
        t.push_str(&format!(
            "| {what}{} | {:.0} | {beside} | {ratio} | {:.1} | {:.1} |\n",
            if run.errors { " (errors!)" } else { "" },
            run.rps,
            run.p50_ms,
            run.p99_ms
        ));
    }
    t
}
