//! Real Chromium through WebDriver, at a 390×844 phone viewport: the first admin sets up the
//! account and later signs in with a TOTP code. Screenshots go to `target/screenshots/`.
//!
//! Uses `MADOGUCHI_TEST_WEBDRIVER` when set (CI starts chromedriver), otherwise starts
//! `/usr/bin/chromedriver` itself. Without Chromium the test says so and is skipped — except
//! under CI, where it must run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::prelude::*;
use thirtyfour::{ChromiumLikeCapabilities, DesiredCapabilities};

use crate::helpers::*;

struct Driver {
    url: String,
    child: Option<Child>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn driver() -> Option<Driver> {
    if let Ok(url) = std::env::var("MADOGUCHI_TEST_WEBDRIVER") {
        return Some(Driver { url, child: None });
    }
    let present = std::path::Path::new("/usr/bin/chromedriver").exists()
        && std::path::Path::new("/usr/bin/chromium").exists();
    if !present {
        if std::env::var("CI").is_ok() {
            panic!("Chromium and chromedriver are required under CI");
        }
        eprintln!("browser test skipped: Chromium/chromedriver are not installed");
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Driver {
        url,
        child: Some(child),
    })
}

async fn phone(driver: &Driver, profile: &std::path::Path) -> WebDriver {
    phone_of_width(driver, profile, 390).await
}

async fn phone_of_width(driver: &Driver, profile: &std::path::Path, width: u32) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary("/usr/bin/chromium").expect("binary");
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--lang=ja",
        &format!("--user-data-dir={}", profile.display()),
    ] {
        caps.add_arg(arg).expect("arg");
    }
    caps.add_experimental_option(
        "prefs",
        serde_json::json!({ "intl.accept_languages": "ja" }),
    )
    .expect("prefs");
    caps.add_experimental_option(
        "mobileEmulation",
        serde_json::json!({
            "deviceMetrics": { "width": width, "height": 844, "pixelRatio": 2.0, "mobile": true, "touch": true },
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
        }),
    )
    .expect("mobile");
    WebDriver::new(&driver.url, caps)
        .await
        .expect("browser session")
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn fill(browser: &WebDriver, id: &str, text: &str) {
    let el = browser.find(By::Id(id)).await.expect(id);
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

/// Waits for the page whose heading is `expected` (navigation after a click is asynchronous).
async fn wait_for_heading(browser: &WebDriver, expected: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(h1) = browser.find(By::Tag("h1")).await
            && let Ok(text) = h1.text().await
        {
            if text == expected {
                return;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected the page {expected:?}, still on {last:?}");
}

async fn submit(browser: &WebDriver) {
    browser
        .find(By::Css("main form button[type=submit]"))
        .await
        .expect("submit button")
        .click()
        .await
        .expect("click");
}

#[tokio::test]
async fn on_a_phone_the_first_admin_sets_up_and_signs_in_with_totp() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let profile = tempfile::tempdir().expect("profile");
    let browser = phone(&driver, profile.path()).await;
    let dir = shots();
    let link = app.bootstrap_link.clone().expect("link");
    let local = link.replace("http://madoguchi.city.example.jp", &app.base);

    browser.goto(&local).await.expect("open link");
    assert_eq!(
        browser.title().await.expect("title"),
        "アカウントの設定 | 窓口 Madoguchi"
    );
    let width: i64 = browser
        .execute("return document.documentElement.clientWidth", vec![])
        .await
        .expect("js")
        .convert()
        .expect("width");
    assert_eq!(width, 390);
    let scroll: i64 = browser
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .expect("js")
        .convert()
        .expect("scroll width");
    assert!(
        scroll <= 390,
        "no horizontal scrolling on a phone: {scroll}"
    );
    browser
        .screenshot(&dir.join("01-setup-password.png"))
        .await
        .expect("shot");
    fill(&browser, "name", "窓口 花子").await;
    fill(&browser, "email", ADMIN_EMAIL).await;
    fill(&browser, "password", ADMIN_PASSWORD).await;
    fill(&browser, "password_confirm", ADMIN_PASSWORD).await;
    submit(&browser).await;
    wait_for_heading(&browser, "認証アプリの登録").await;

    let Ok(key_el) = browser.find(By::Id("totp-key")).await else {
        browser
            .screenshot(&dir.join("02-failed.png"))
            .await
            .expect("shot");
        panic!("no key on {}", browser.source().await.expect("source"));
    };
    let key = key_el.text().await.expect("text");
    let secret = madoguchi::auth::totp::parse_display_key(&key)
        .unwrap_or_else(|| panic!("base32 key: {key:?}"));
    assert!(
        browser.find(By::Css("figure.qr svg")).await.is_ok(),
        "QR code shown"
    );
    let otpauth = browser
        .find(By::Css("a[href^='otpauth://totp/']"))
        .await
        .expect("otpauth link");
    assert!(otpauth.text().await.expect("text").contains("認証アプリ"));
    browser
        .screenshot(&dir.join("02-setup-authenticator.png"))
        .await
        .expect("shot");
    fill(&browser, "code", &app.code(&secret)).await;
    submit(&browser).await;
    wait_for_heading(&browser, "職員ホーム").await;
    assert!(browser.source().await.expect("src").contains("窓口 花子"));
    browser
        .screenshot(&dir.join("03-staff-home.png"))
        .await
        .expect("shot");

    browser
        .find(By::Css("header form[action='/staff/signout'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    wait_for_heading(&browser, "職員ログイン").await;
    fill(&browser, "email", ADMIN_EMAIL).await;
    fill(&browser, "password", ADMIN_PASSWORD).await;
    browser
        .screenshot(&dir.join("04-sign-in.png"))
        .await
        .expect("shot");
    submit(&browser).await;
    wait_for_heading(&browser, "確認コードの入力").await;
    app.next_step();
    fill(&browser, "code", &app.code(&secret)).await;
    browser
        .screenshot(&dir.join("05-sign-in-code.png"))
        .await
        .expect("shot");
    submit(&browser).await;
    wait_for_heading(&browser, "職員ホーム").await;
    // The language switch works without JavaScript and persists.
    browser
        .find(By::Css("header form[action='/lang'] button"))
        .await
        .expect("switch")
        .click()
        .await
        .expect("click");
    wait_for_heading(&browser, "Staff home").await;
    browser
        .screenshot(&dir.join("06-staff-home-en.png"))
        .await
        .expect("shot");
    browser.quit().await.expect("quit");
}

#[tokio::test]
async fn at_360_px_no_page_scrolls_sideways() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let dept = app
        .add_department(
            &admin.agent,
            "とても長い名前の課を作ってみて表の幅を確かめる課",
        )
        .await;
    app.add_clerk(
        &admin.agent,
        "wide@city.example.jp",
        "表示幅 確認用の長い名前の職員さん",
        &dept,
    )
    .await;
    let profile = tempfile::tempdir().expect("profile");
    let browser = phone_of_width(&driver, profile.path(), 360).await;
    // Bring the admin's session cookie into the browser.
    browser
        .goto(format!("{}/staff/signin", app.base))
        .await
        .expect("open");
    let cookie = admin.agent.cookie_header();
    let (name, value) = cookie
        .split("; ")
        .find_map(|c| c.split_once('=').filter(|(n, _)| *n == "madoguchi"))
        .expect("session cookie");
    browser
        .add_cookie(thirtyfour::Cookie::new(name.to_string(), value.to_string()))
        .await
        .expect("cookie");
    for (path, heading) in [
        ("/staff/signin", "職員ログイン"),
        ("/staff", "職員ホーム"),
        ("/staff/clerks", "職員の管理"),
        ("/staff/departments", "課の管理"),
    ] {
        browser
            .goto(format!("{}{path}", app.base))
            .await
            .expect("open");
        wait_for_heading(&browser, heading).await;
        let scroll: i64 = browser
            .execute("return document.documentElement.scrollWidth", vec![])
            .await
            .expect("js")
            .convert()
            .expect("width");
        assert!(scroll <= 360, "{path} is {scroll} px wide");
        let file = format!("360-{}.png", path.trim_start_matches('/').replace('/', "-"));
        browser.screenshot(&shots().join(file)).await.expect("shot");
    }
    browser.quit().await.expect("quit");
}

#[tokio::test]
async fn on_a_phone_a_resident_opens_a_printed_invitation_enrols_reads_the_channel_and_signs_out() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民課", "counter@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "地域の見守り", 60).await;
    let dir = shots();
    // At the counter: the clerk issues the invitation in a desktop-sized browser and prints it.
    let desk_profile = tempfile::tempdir().expect("profile");
    let desk = phone_of_width(&driver, desk_profile.path(), 1024).await;
    desk.goto(format!("{}/staff/signin", app.base))
        .await
        .expect("open");
    let cookie = clerk.agent.cookie_header();
    let (name, value) = cookie
        .split("; ")
        .find_map(|c| c.split_once('=').filter(|(n, _)| *n == "madoguchi"))
        .expect("session cookie");
    desk.add_cookie(thirtyfour::Cookie::new(name.to_string(), value.to_string()))
        .await
        .expect("cookie");
    desk.goto(format!("{}/staff/channels/{channel}", app.base))
        .await
        .expect("channel page");
    wait_for_heading(&desk, "地域の見守り").await;
    // Issuing a guest is a task of its own, one link away from the channel.
    desk.find(By::LinkText("ゲストを招待する"))
        .await
        .expect("the task's link")
        .click()
        .await
        .expect("open the task");
    wait_for_heading(&desk, "ゲストを招待する").await;
    fill(&desk, "name", "見守 花子").await;
    fill(&desk, "organisation", "第二町内会").await;
    desk.find(By::Css("#kind option[value='resident']"))
        .await
        .expect("resident")
        .click()
        .await
        .expect("choose");
    desk.find(By::Css("#permission option[value='read']"))
        .await
        .expect("read")
        .click()
        .await
        .expect("choose");
    desk.find(By::Id("d-print"))
        .await
        .expect("print")
        .click()
        .await
        .expect("choose");
    desk.screenshot(&dir.join("counter-01-issue-form.png"))
        .await
        .expect("shot");
    desk.find(By::Css("form[action$='/guests/new'] button[type=submit]"))
        .await
        .expect("invite")
        .click()
        .await
        .expect("click");
    wait_for_heading(&desk, "窓口（まどぐち）へのご招待").await;
    desk.screenshot(&dir.join("counter-02-printed-sheet.png"))
        .await
        .expect("shot");
    let link = desk
        .find(By::Id("invite-link"))
        .await
        .expect("link on the sheet")
        .text()
        .await
        .expect("text");
    let sign_in_id = desk
        .find(By::Id("sign-in-name"))
        .await
        .expect("id on the sheet")
        .text()
        .await
        .expect("text");
    assert!(desk.find(By::Css(".sheet-qr svg")).await.is_ok(), "QR code");
    desk.quit().await.expect("quit");

    // At home: the resident scans the sheet with a phone.
    let profile = tempfile::tempdir().expect("profile");
    let browser = phone(&driver, profile.path()).await;
    let local = link.replace("http://madoguchi.city.example.jp", &app.base);

    browser.goto(&local).await.expect("open the invitation");
    wait_for_heading(&browser, "アカウントの設定").await;
    let text = browser.source().await.expect("source");
    assert!(text.contains("見守 花子"));
    assert!(text.contains("地域の見守り"));
    browser
        .screenshot(&dir.join("resident-01-invitation.png"))
        .await
        .expect("shot");
    fill(&browser, "password", "まいにち げんき").await;
    fill(&browser, "password_confirm", "まいにち げんき").await;
    submit(&browser).await;
    wait_for_heading(&browser, "認証アプリの登録").await;
    let key = browser
        .find(By::Id("totp-key"))
        .await
        .expect("key")
        .text()
        .await
        .expect("text");
    let secret = madoguchi::auth::totp::parse_display_key(&key).expect("key");
    browser
        .screenshot(&dir.join("resident-02-authenticator.png"))
        .await
        .expect("shot");
    fill(&browser, "code", &app.code(&secret)).await;
    submit(&browser).await;
    wait_for_heading(&browser, "復旧コード").await;
    let codes = browser
        .find_all(By::Css("#recovery-codes li"))
        .await
        .expect("codes");
    assert_eq!(codes.len(), 10);
    browser
        .screenshot(&dir.join("resident-03-recovery-codes.png"))
        .await
        .expect("shot");
    browser
        .find(By::Css("#continue"))
        .await
        .expect("continue")
        .click()
        .await
        .expect("click");
    wait_for_heading(&browser, "地域の見守り").await;
    let expiry = browser
        .find(By::Id("expires-on"))
        .await
        .expect("expiry")
        .text()
        .await
        .expect("t");
    assert!(expiry.contains(&app.long_date_in(30)), "{expiry}");
    browser
        .screenshot(&dir.join("resident-04-channel.png"))
        .await
        .expect("shot");
    browser
        .find(By::Css("header form[action='/signout'] button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    wait_for_heading(&browser, "ログイン").await;
    browser
        .screenshot(&dir.join("resident-05-signed-out.png"))
        .await
        .expect("shot");
    // And back in with the id from the sheet.
    fill(&browser, "email", &sign_in_id).await;
    fill(&browser, "password", "まいにち げんき").await;
    submit(&browser).await;
    wait_for_heading(&browser, "確認コードの入力").await;
    app.next_step();
    fill(&browser, "code", &app.code(&secret)).await;
    submit(&browser).await;
    wait_for_heading(&browser, "地域の見守り").await;
    browser.quit().await.expect("quit");
}

/// Puts an HTTP agent's session into a browser, as if the person had signed in there.
async fn carry_session(browser: &WebDriver, base: &str, agent: &Agent) {
    browser.goto(format!("{base}/signin")).await.expect("open");
    let cookie = agent.cookie_header();
    let (name, value) = cookie
        .split("; ")
        .find_map(|c| c.split_once('=').filter(|(n, _)| *n == "madoguchi"))
        .expect("session cookie");
    browser
        .add_cookie(thirtyfour::Cookie::new(name.to_string(), value.to_string()))
        .await
        .expect("cookie");
}

/// Waits until the page's source holds `text`, without reloading it.
async fn wait_for_text(browser: &WebDriver, text: &str) {
    for _ in 0..150 {
        if browser
            .source()
            .await
            .is_ok_and(|s| html_unescape(&s).contains(text))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{text:?} never appeared");
}

#[tokio::test]
async fn on_a_phone_a_hospital_guest_posts_sends_a_pdf_acknowledges_and_sees_news_arrive() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "佐藤 看護師",
            "sato@hospital.example.jp",
            "post_files",
            30,
        )
        .await;
    let nurse = app.enrol_guest(&link, "病院職員の長い合言葉です").await;
    let staff_page = format!("/staff/channels/{channel}");
    clerk.agent.get(&staff_page).await;
    let p = clerk
        .agent
        .post(
            &format!("{staff_page}/messages"),
            &[("body", "12月の訪問予定表を確認してください"), ("ack", "1")],
        )
        .await;
    assert_eq!(p.status, 303);
    let dir = shots();

    let profile = tempfile::tempdir().expect("profile");
    let phone = phone(&driver, profile.path()).await;
    carry_session(&phone, &app.base, &nurse.agent).await;
    phone
        .goto(format!("{}/c/{channel}", app.base))
        .await
        .expect("channel");
    wait_for_heading(&phone, "在宅医療 連携").await;
    phone
        .screenshot(&dir.join("hospital-01-channel.png"))
        .await
        .expect("shot");

    // She writes, then sends a PDF.
    fill(&phone, "body", "承知しました。明日の午前に伺います。").await;
    phone
        .find(By::Css("form[action$='/messages'] button[type=submit]"))
        .await
        .expect("send")
        .click()
        .await
        .expect("click");
    wait_for_text(&phone, "承知しました。明日の午前に伺います。").await;
    let pdf = profile.path().join("訪問記録.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n").expect("pdf");
    phone
        .find(By::Id("file"))
        .await
        .expect("file input")
        .send_keys(pdf.display().to_string())
        .await
        .expect("choose file");
    phone
        .find(By::Css("form.file-form button[type=submit]"))
        .await
        .expect("send file")
        .click()
        .await
        .expect("click");
    wait_for_text(&phone, "ファイル: 訪問記録.pdf").await;
    assert_eq!(app.scalar("select count(*) from attachment").await, 1);

    // She acknowledges the clerk's request.
    phone
        .find(By::Css("button.ack"))
        .await
        .expect("acknowledge")
        .click()
        .await
        .expect("click");
    wait_for_text(&phone, "確認済みです").await;
    assert_eq!(app.scalar("select count(*) from message_ack").await, 1);
    phone
        .screenshot(&dir.join("hospital-02-posted-and-acknowledged.png"))
        .await
        .expect("shot");

    // The clerk writes; the message appears on her phone without a reload.
    let before = phone.current_url().await.expect("url");
    clerk.agent.get(&staff_page).await;
    clerk
        .agent
        .post(
            &format!("{staff_page}/messages"),
            &[("body", "ありがとうございます。鍵は管理人室です。")],
        )
        .await;
    wait_for_text(&phone, "鍵は管理人室です").await;
    assert_eq!(phone.current_url().await.expect("url"), before, "no reload");
    phone
        .screenshot(&dir.join("hospital-03-live-message.png"))
        .await
        .expect("shot");
    phone.quit().await.expect("quit");

    // At the desk, the clerk sees who has read the new message.
    let message: String =
        sqlx::query_scalar("select message_id from message order by seq desc limit 1")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("message");
    let desk_profile = tempfile::tempdir().expect("profile");
    let desk = phone_of_width(&driver, desk_profile.path(), 1024).await;
    carry_session(&desk, &app.base, &clerk.agent).await;
    desk.goto(format!("{}{staff_page}/messages/{message}", app.base))
        .await
        .expect("reads");
    wait_for_heading(&desk, "メッセージの既読と確認").await;
    let read = desk
        .find(By::Id("read"))
        .await
        .expect("read list")
        .text()
        .await
        .expect("text");
    assert!(read.contains("佐藤 看護師（市立病院）"), "{read}");
    desk.screenshot(&dir.join("clerk-01-read-list.png"))
        .await
        .expect("shot");
    desk.quit().await.expect("quit");
}

/// The pages of a PDF as Chromium writes it: its page objects (`/Type /Page`, not `/Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(i, _)| {
            let rest = text[i + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

#[tokio::test]
async fn the_printed_sheet_is_one_a4_page_in_japanese_and_english_for_the_longest_name() {
    let Some(driver) = driver().await else { return };
    let app = spawn_city_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民協働推進課 地域防災・見守り担当", "m@city.example.jp")
        .await;
    let channel = app
        .create_channel(
            &clerk.agent,
            "地域の見守りと災害時の安否確認のための連絡",
            60,
        )
        .await;
    let profile = tempfile::tempdir().expect("profile");
    let desk = phone_of_width(&driver, profile.path(), 1024).await;
    carry_session(&desk, &app.base, &clerk.agent).await;
    // The longest name and organisation the issue form allows (100 characters each).
    let long_ja = ("寿限無寿限無五劫の擦り切れ海砂利水魚の水行末雲来末風来末".repeat(4))
        .chars()
        .take(100)
        .collect::<String>();
    let long_en = "Maximiliana Alexandrina Wolfeschlegelsteinhausenbergerdorff Featherstonehaugh-Cholmondeley Smith"
        .repeat(2)
        .chars()
        .take(100)
        .collect::<String>();
    for (lang, name, organisation) in [
        ("ja", long_ja.clone(), long_ja.clone()),
        ("en", long_en.clone(), long_en.clone()),
    ] {
        let c = &clerk.agent;
        c.get(&format!("/staff/channels/{channel}/guests/new"))
            .await;
        let p = c
            .post(
                &format!("/staff/channels/{channel}/guests/new"),
                &[
                    ("name", name.trim()),
                    ("organisation", organisation.trim()),
                    ("kind", "resident"),
                    ("email", ""),
                    ("permission", "post"),
                    ("expires_on", &app.date_in(30)),
                    ("lang", lang),
                    ("delivery", "print"),
                ],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        desk.goto(format!("{}{}", app.base, p.location().expect("sheet")))
            .await
            .expect("the sheet");
        let heading = if lang == "ja" {
            "窓口（まどぐち）へのご招待"
        } else {
            "Your invitation to Madoguchi"
        };
        wait_for_heading(&desk, heading).await;
        let pdf = desk
            .print_page(thirtyfour::common::print::PrintParameters {
                page: thirtyfour::common::print::PrintPage {
                    width: 21.0,
                    height: 29.7,
                },
                margin: thirtyfour::common::print::PrintMargins {
                    top: 1.5,
                    bottom: 1.5,
                    left: 1.5,
                    right: 1.5,
                },
                shrink_to_fit: false,
                background: true,
                ..Default::default()
            })
            .await
            .expect("print to PDF");
        std::fs::write(shots().join(format!("sheet-{lang}.pdf")), &pdf).expect("keep the PDF");
        assert_eq!(pdf_pages(&pdf), 1, "the {lang} sheet prints on one A4 page");
    }
    desk.quit().await.expect("quit");
}

/// The serious problems an accessibility checker reports on a form page, checked in the
/// browser's own DOM: duplicate ids, descriptions that point nowhere, controls without a label,
/// links and buttons without a name, no page language, content wider than the phone.
const MARKUP_CHECK: &str = r#"
const problems = [];
const ids = new Set();
document.querySelectorAll('[id]').forEach(e => {
  if (ids.has(e.id)) problems.push('duplicate id ' + e.id);
  ids.add(e.id);
});
document.querySelectorAll('[aria-describedby]').forEach(e =>
  e.getAttribute('aria-describedby').split(/\s+/).forEach(id => {
    if (!document.getElementById(id)) problems.push('described by a missing ' + id);
  }));
document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(e => {
  if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    problems.push('unlabelled ' + (e.name || e.id));
});
document.querySelectorAll('a[href], button').forEach(e => {
  if (!e.textContent.trim() && !e.getAttribute('aria-label') && !e.hidden)
    problems.push('no name: ' + e.outerHTML.slice(0, 60));
});
document.querySelectorAll('.error-summary a').forEach(a => {
  if (!document.getElementById(a.getAttribute('href').slice(1)))
    problems.push('summary link to nothing ' + a.getAttribute('href'));
});
if (!document.documentElement.lang) problems.push('no page language');
if (document.documentElement.scrollWidth > window.innerWidth)
  problems.push('wider than the phone: ' + document.documentElement.scrollWidth);
return problems;
"#;

#[tokio::test]
async fn at_360_px_a_refused_clerk_form_focuses_its_error_summary_and_passes_the_markup_check() {
    let Some(driver) = driver().await else { return };
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院チーム", 60).await;
    let profile = tempfile::tempdir().expect("profile");
    let browser = phone_of_width(&driver, profile.path(), 360).await;
    carry_session(&browser, &app.base, &clerk.agent).await;
    for (task, heading, clear, shot) in [
        (
            "guests/new",
            "ゲストを招待する",
            "name",
            "360-error-issue.png",
        ),
        ("edit", "案件の編集", "channel_name", "360-error-edit.png"),
        (
            "revoke-all",
            "すべてのゲストの利用停止 — 病院チーム",
            "reason",
            "360-error-revoke-all.png",
        ),
    ] {
        browser
            .goto(format!("{}/staff/channels/{channel}/{task}", app.base))
            .await
            .expect("open the task");
        wait_for_heading(&browser, heading).await;
        let field = browser.find(By::Id(clear)).await.expect("field");
        field.clear().await.expect("clear");
        submit(&browser).await;
        wait_for_text(&browser, "入力内容を確認してください").await;
        let mut focused = String::new();
        for _ in 0..50 {
            focused = browser
                .execute("return document.activeElement.id", vec![])
                .await
                .expect("js")
                .convert()
                .expect("id");
            if focused == "error-summary" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(focused, "error-summary", "{task}: the summary takes focus");
        let invalid: String = browser
            .execute(
                &format!(
                    "return document.getElementById('{clear}').getAttribute('aria-invalid') || ''"
                ),
                vec![],
            )
            .await
            .expect("js")
            .convert()
            .expect("attr");
        assert_eq!(invalid, "true", "{task}");
        let problems: Vec<String> = browser
            .execute(MARKUP_CHECK, vec![])
            .await
            .expect("js")
            .convert()
            .expect("list");
        assert!(problems.is_empty(), "{task}: {problems:#?}");
        browser.screenshot(&shots().join(shot)).await.expect("shot");
    }
    browser.quit().await.expect("quit");
}
