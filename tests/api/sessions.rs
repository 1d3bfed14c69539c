//! Sessions (SECURITY C1–C5) and clerk administration that ends them.

use crate::helpers::*;

/// The session cookie a password step sets (a bare visit sets none: SECURITY C8), and the
/// visitor cookie the first page view sets.
async fn cookies_of_a_sign_in(agent: &Agent, email: &str, password: &str) -> (String, String) {
    let res = agent
        .client
        .get(agent.url("/staff/signin"))
        .send()
        .await
        .expect("get");
    let set: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(
        set.iter()
            .all(|c| !c.starts_with("madoguchi=") && !c.starts_with("__Host-madoguchi=")),
        "no session for a page view: {set:?}"
    );
    let visitor = set
        .into_iter()
        .find(|c| c.contains("madoguchi-visitor="))
        .expect("visitor cookie");
    let body = res.text().await.expect("body");
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_string();
    let res = agent
        .client
        .post(agent.url("/staff/signin"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .find(|c| c.starts_with("madoguchi=") || c.starts_with("__Host-madoguchi="))
        .expect("session cookie");
    (session, visitor)
}

fn session_cookie(cookie_header: &str) -> Option<String> {
    cookie_header
        .split("; ")
        .find(|c| c.starts_with("madoguchi=") || c.starts_with("__Host-madoguchi="))
        .map(str::to_string)
}

#[tokio::test]
async fn c1_the_session_id_changes_at_sign_in_and_the_old_one_is_dead() {
    // SECURITY C1
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let agent = app.agent();
    // A visitor holds no session before the password step (SECURITY C8); the id the session
    // gets there is not the one it ends with.
    agent.get("/staff/signin").await;
    assert_eq!(session_cookie(&agent.cookie_header()), None);
    agent
        .post(
            "/staff/signin",
            &[("email", &admin.email), ("password", &admin.password)],
        )
        .await;
    let pending = session_cookie(&agent.cookie_header()).expect("cookie");
    app.next_step();
    let p = agent
        .post("/staff/signin/code", &[("code", &app.code(&admin.secret))])
        .await;
    assert_eq!(p.status, 303);
    let full = session_cookie(&agent.cookie_header()).expect("cookie");
    assert_ne!(pending, full, "rotated when sign-in completes");
    assert_eq!(agent.get_with_cookie("/staff", &full).await.status, 200);
    for old in [pending] {
        let p = agent.get_with_cookie("/staff", &old).await;
        assert_eq!(p.status, 303, "old id gives nothing");
        let code_page = agent.get_with_cookie("/staff/signin/code", &old).await;
        assert_eq!(code_page.status, 303, "not even the code form");
    }
}

#[tokio::test]
async fn c2_the_cookie_is_httponly_lax_path_root_and_survives_a_restart() {
    // SECURITY C2
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let agent = app.agent();
    let (set_cookie, visitor) = cookies_of_a_sign_in(&agent, &admin.email, &admin.password).await;
    assert!(set_cookie.starts_with("madoguchi="), "{set_cookie}");
    for c in [&set_cookie, &visitor] {
        assert!(c.contains("HttpOnly"), "{c}");
        assert!(c.contains("SameSite=Lax"), "{c}");
        assert!(c.contains("Path=/"), "{c}");
        assert!(!c.contains("Secure"), "plain HTTP on loopback: {c}");
    }

    // The signing key lives in the data directory: a restarted server accepts the cookie,
    // and a server with another key (another data directory) does not.
    let cookie = session_cookie(&admin.agent.cookie_header()).expect("cookie");
    let other_key = spawn_app_with(Options {
        database_url: Some(app.database_url.clone()),
        clock: Some(app.clock.clone()),
        ..Options::default()
    })
    .await;
    let p = admin
        .agent
        .get_with_cookie(&format!("{}/staff", other_key.base), &cookie)
        .await;
    assert_eq!(p.status, 303);
    let restarted = spawn_app_same_dir(&app).await;
    let p = admin
        .agent
        .get_with_cookie(&format!("{restarted}/staff"), &cookie)
        .await;
    assert_eq!(p.status, 200, "same key file and database: still signed in");
}

async fn spawn_app_same_dir(app: &TestApp) -> String {
    let raw = madoguchi::config::RawConfig {
        data_dir: Some(app.dir.path().display().to_string()),
        database_url: Some(app.database_url.clone()),
        listen: Some("127.0.0.1:0".into()),
        public_url: Some("http://madoguchi.city.example.jp".into()),
        ..Default::default()
    };
    let built = madoguchi::web::server::Application::build_with(
        raw.resolve().expect("config"),
        madoguchi::web::server::Overrides {
            clock: Some(app.clock.clone()),
            mailer: None,
        },
    )
    .await
    .expect("restart");
    let base = format!("http://127.0.0.1:{}", built.port());
    tokio::spawn(built.serve());
    base
}

#[tokio::test]
async fn c2_h1_over_tls_the_cookie_is_secure_with_the_host_prefix_and_hsts_is_sent() {
    // SECURITY C2, H1
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("cert");
    let dir = tempfile::tempdir().expect("dir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key");
    let app = spawn_app_with(Options {
        tls: Some((cert_path, key_path)),
        ..Options::default()
    })
    .await;
    let admin = app.setup_admin().await;
    let agent = app.agent();
    let (set_cookie, visitor) = cookies_of_a_sign_in(&agent, &admin.email, &admin.password).await;
    assert!(set_cookie.starts_with("__Host-madoguchi="), "{set_cookie}");
    assert!(
        visitor.starts_with("__Host-madoguchi-visitor="),
        "{visitor}"
    );
    for c in [&set_cookie, &visitor] {
        assert!(c.contains("Secure"), "{c}");
        assert!(c.contains("Path=/"), "{c}");
        assert!(!c.contains("Domain"), "{c}");
    }
    let res = agent
        .client
        .get(agent.url("/staff/signin"))
        .send()
        .await
        .expect("https get");
    assert_eq!(res.status(), 200);
    let hsts = res
        .headers()
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .expect("hsts");
    assert!(hsts.contains("max-age=31536000"));
    // Both TLS 1.2 and 1.3 work.
    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .tls_version_min(version)
            .tls_version_max(version)
            .build()
            .expect("client");
        let r = client
            .get(agent.url("/staff/signin"))
            .send()
            .await
            .expect("tls");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn c3_sessions_end_after_thirty_idle_minutes() {
    // SECURITY C3
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    app.clock.advance(29 * 60);
    assert_eq!(admin.agent.get("/staff").await.status, 200);
    app.clock.advance(30 * 60 + 1);
    let p = admin.agent.get("/staff").await;
    assert_eq!(p.status, 303);
    let audit = app.audit().await;
    assert!(
        audit
            .iter()
            .any(|r| r.action == "session.end" && r.detail.as_deref() == Some("idle_timeout"))
    );
}

#[tokio::test]
async fn c3_sessions_end_after_twelve_hours_however_active() {
    // SECURITY C3
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for _ in 0..(12 * 3) {
        app.clock.advance(20 * 60);
        assert_eq!(admin.agent.get("/staff").await.status, 200);
    }
    app.clock.advance(20 * 60);
    assert_eq!(admin.agent.get("/staff").await.status, 303);
    let audit = app.audit().await;
    assert!(
        audit
            .iter()
            .any(|r| r.action == "session.end" && r.detail.as_deref() == Some("absolute_timeout"))
    );
}

#[tokio::test]
async fn c4_sign_out_is_a_protected_post_and_the_old_cookie_stops_working() {
    // SECURITY C4
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let cookie = admin.agent.cookie_header();
    let p = admin.agent.get("/staff/signout").await;
    assert_eq!(p.status, 405);
    // The page says what happened, and "back" leads to the staff console.
    assert!(
        p.main().contains("ボタンから送るためのもの"),
        "{}",
        p.main()
    );
    assert!(p.main().contains("href=\"/staff\""), "{}", p.main());
    let p = admin.agent.post_raw("/staff/signout", &[]).await;
    assert_eq!(p.status, 403, "no CSRF token, no sign-out");
    assert_eq!(admin.agent.get("/staff").await.status, 200);
    let p = admin.agent.post("/staff/signout", &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(admin.agent.get("/staff").await.status, 303);
    assert_eq!(
        admin.agent.get_with_cookie("/staff", &cookie).await.status,
        303
    );
    assert_eq!(
        app.scalar("select count(*) from login where end_reason = 'sign_out'")
            .await,
        1
    );
}

#[tokio::test]
async fn c5_disabling_a_clerk_refuses_their_very_next_request() {
    // SECURITY C5
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let dept = app.add_department(&admin.agent, "市民課").await;
    let link = app
        .add_clerk(&admin.agent, "d@city.example.jp", "停止 予定", &dept)
        .await;
    let clerk = app
        .enrol(
            &link,
            None,
            "d@city.example.jp",
            "停止される予定の職員の合言葉",
        )
        .await;
    let second = app.sign_in(&clerk).await;
    assert_eq!(clerk.agent.get("/staff").await.status, 200);
    admin.agent.get("/staff/clerks").await;
    let id: String =
        sqlx::query_scalar("select account_id from account where email = 'd@city.example.jp'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("id");
    let p = admin
        .agent
        .post(&format!("/staff/clerks/{id}/disable"), &[])
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(clerk.agent.get("/staff").await.status, 303);
    assert_eq!(second.get("/staff").await.status, 303);
    let (_, p) = app.password_step(&clerk.email, &clerk.password).await;
    assert_eq!(p.status, 422, "a disabled clerk cannot sign in");
    let list = admin.agent.get("/staff/clerks").await;
    assert!(list.body.contains("停止中"));
    assert!(app.actions().await.contains(&"clerk.disable".to_string()));
}

#[tokio::test]
async fn disabling_a_clerk_who_never_set_up_kills_their_setup_link() {
    // SECURITY A7
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let dept = app.add_department(&admin.agent, "総務課").await;
    let link = app
        .add_clerk(&admin.agent, "later@city.example.jp", "後日 設定", &dept)
        .await;
    let id: String =
        sqlx::query_scalar("select account_id from account where email = 'later@city.example.jp'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("id");
    admin.agent.get("/staff/clerks").await;
    admin
        .agent
        .post(&format!("/staff/clerks/{id}/disable"), &[])
        .await;
    assert_eq!(app.agent().get(&link).await.status, 404);
    admin
        .agent
        .post(&format!("/staff/clerks/{id}/enable"), &[])
        .await;
    assert_eq!(
        app.agent().get(&link).await.status,
        404,
        "re-enabling does not revive it"
    );
    admin
        .agent
        .post(&format!("/staff/clerks/{id}/resend"), &[])
        .await;
    let fresh = link_in(&app.mails().pop().expect("mail").text).expect("link");
    assert_eq!(app.agent().get(&fresh).await.status, 200);
}
