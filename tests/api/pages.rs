//! What every page shares: headers, errors, escaping, CSRF, language (SECURITY E1–E4, E8, H3).

use crate::helpers::*;

const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

fn assert_security_headers(p: &Page, what: &str) {
    assert_eq!(
        p.header("content-security-policy").as_deref(),
        Some(CSP),
        "{what}"
    );
    assert_eq!(
        p.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        p.header("referrer-policy").as_deref(),
        Some("strict-origin-when-cross-origin"),
        "{what}"
    );
    assert_eq!(
        p.header("content-type").as_deref(),
        Some("text/html; charset=utf-8"),
        "{what}"
    );
    assert_eq!(
        p.header("cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert!(p.header("server").is_none(), "no version banner: {what}");
    assert!(
        p.header("strict-transport-security").is_none(),
        "no HSTS without TLS"
    );
}

#[tokio::test]
async fn e3_c7_every_page_and_error_page_carries_the_security_headers() {
    // SECURITY E3, C7
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for path in [
        "/staff/signin",
        "/staff",
        "/staff/clerks",
        "/staff/departments",
    ] {
        let p = admin.agent.get(path).await;
        assert_eq!(p.status, 200, "{path}");
        assert_security_headers(&p, path);
    }
    let p = app.agent().get("/no/such/page").await;
    assert_eq!(p.status, 404);
    assert_security_headers(&p, "404");
    let p = app
        .agent()
        .post_raw("/staff/signin", &[("email", "a")])
        .await;
    assert_eq!(p.status, 403);
    assert_security_headers(&p, "403");
}

#[tokio::test]
async fn e4_error_pages_are_generic_localised_and_carry_the_request_id() {
    // SECURITY E4
    let app = spawn_app().await;
    let p = app.agent().get("/nothing-here").await;
    assert_eq!(p.status, 404);
    let id = p.header("x-request-id").expect("request id");
    assert!(p.body.contains(&id));
    assert!(p.body.contains("ページが見つかりません"));
    assert!(p.body.contains("<html lang=\"ja\">"));
    let en = app
        .agent()
        .client
        .get(format!("{}/nothing-here", app.base))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .expect("get");
    let body = en.text().await.expect("body");
    assert!(body.contains("Page not found"));
    assert!(body.contains("<html lang=\"en\">"));

    // An unexpected failure: an account whose stored secret cannot be decrypted.
    let admin = app.setup_admin().await;
    sqlx::query("update account set totp_secret = $1")
        .bind(vec![0u8; 40])
        .execute(&app.state.db.pool)
        .await
        .expect("corrupt");
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    let p = agent
        .post("/staff/signin/code", &[("code", "123456")])
        .await;
    assert_eq!(p.status, 500);
    let id = p.header("x-request-id").expect("request id");
    assert!(p.body.contains(&id));
    assert!(p.body.contains("エラーが発生しました"));
    for internal in ["decrypt", "TOTP", "sqlx", "panicked", "src/", "anyhow"] {
        assert!(!p.body.contains(internal), "no internal text: {internal}");
    }
    assert_security_headers(&p, "500");
}

#[tokio::test]
async fn e4_a_panicking_handler_becomes_a_500_page_not_a_dropped_connection() {
    // SECURITY E4: the shared layers wrap a route that panics.
    let app = spawn_app().await;
    let router = madoguchi::web::shared_layers(
        axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("index out of bounds");
                }
                "unreachable"
            }),
        ),
        app.state.clone(),
        madoguchi::web::session_store::Store::open(&app.state.db)
            .await
            .expect("store"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let agent = Agent::new(&format!("http://127.0.0.1:{port}"));
    let p = agent.get("/boom").await;
    assert_eq!(p.status, 500);
    assert!(p.body.contains("エラーが発生しました"));
    assert!(p.body.contains(&p.header("x-request-id").expect("id")));
    assert!(!p.body.contains("index out of bounds"));
}

#[tokio::test]
async fn e1_script_like_input_renders_inert_everywhere() {
    // SECURITY E1
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    let dept = app.add_department(&admin.agent, evil).await;
    admin.agent.get("/staff/clerks").await;
    let p = admin
        .agent
        .post(
            "/staff/clerks",
            &[
                ("email", "evil@city.example.jp"),
                ("name", evil),
                ("role", "clerk"),
                ("department_id", &dept),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    for path in ["/staff/clerks", "/staff/departments"] {
        let p = admin.agent.get(path).await;
        assert!(!p.body.contains("<script>alert"), "{path}");
        assert!(!p.body.contains("<img src=x"), "{path}");
        assert!(
            p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}"
        );
    }
    // Typed back into a form after an error, still inert.
    let p = admin
        .agent
        .post(
            "/staff/clerks",
            &[
                ("email", evil),
                ("name", evil),
                ("role", "clerk"),
                ("department_id", ""),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(!p.body.contains("<script>alert"));
    assert!(!p.body.contains("<img src=x"));
}

#[tokio::test]
async fn e2_state_changes_need_the_session_token_and_a_same_site_request() {
    // SECURITY E2
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    admin.agent.get("/staff/departments").await;
    let token = admin.agent.csrf();
    let p = admin
        .agent
        .post_raw("/staff/departments", &[("name", "No token")])
        .await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("ページの有効期限が切れました"));
    let p = admin
        .agent
        .post_raw(
            "/staff/departments",
            &[("csrf", "forged"), ("name", "Forged")],
        )
        .await;
    assert_eq!(p.status, 403);
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
    ] {
        let res = admin
            .agent
            .client
            .post(admin.agent.url("/staff/departments"))
            .header(header, value)
            .form(&[("csrf", token.as_str()), ("name", "Cross")])
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 403, "{header}: {value}");
    }
    // The sign-in form is protected too.
    let fresh = app.agent();
    let p = fresh
        .post_raw(
            "/staff/signin",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(app.scalar("select count(*) from department").await, 0);
    // With the token and a same-origin request it works.
    let res = admin
        .agent
        .client
        .post(admin.agent.url("/staff/departments"))
        .header("origin", &app.base)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", token.as_str()), ("name", "Same")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    assert_eq!(app.scalar("select count(*) from department").await, 1);
}

#[tokio::test]
async fn e8_over_long_input_gets_a_form_error_and_nothing_is_written() {
    // SECURITY E8
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    admin.agent.get("/staff/departments").await;
    let long = "課".repeat(101);
    let p = admin
        .agent
        .post("/staff/departments", &[("name", &long)])
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("長すぎます"));
    let long_email = format!("{}@city.example.jp", "a".repeat(250));
    let p = admin
        .agent
        .post(
            "/staff/clerks",
            &[
                ("email", &long_email),
                ("name", &"名".repeat(101)),
                ("role", "clerk"),
                ("department_id", ""),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.matches("長すぎます").count() >= 2);
    assert_eq!(app.scalar("select count(*) from department").await, 0);
    assert_eq!(app.scalar("select count(*) from account").await, 1);
    // Malformed forms are a clear 4xx page, never a 500.
    let p = admin
        .agent
        .post("/staff/departments", &[("wrong", "field")])
        .await;
    assert!(p.status == 400 || p.status == 422, "{}", p.status);
    assert!(p.body.contains("入力を受け付けられませんでした"));
}

#[tokio::test]
async fn h3_no_directory_listing_no_debug_routes_no_banner() {
    // SECURITY H3
    let app = spawn_app().await;
    let agent = app.agent();
    for path in [
        "/static/",
        "/static",
        "/debug",
        "/metrics",
        "/.git/config",
        "/static/../Cargo.toml",
    ] {
        let p = agent.get(path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.header("server").is_none());
    }
    let css = agent.get("/static/style.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .unwrap_or_default()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn pages_are_japanese_by_default_and_english_by_choice_which_persists() {
    let app = spawn_app().await;
    let agent = app.agent();
    let p = agent.get("/staff/signin").await;
    assert!(p.body.contains("<html lang=\"ja\">"));
    assert!(p.body.contains("職員ログイン"));
    let p = agent
        .post("/lang", &[("lang", "en"), ("back", "/staff/signin")])
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location().as_deref(), Some("/staff/signin"));
    let p = agent.get("/staff/signin").await;
    assert!(p.body.contains("<html lang=\"en\">"));
    assert!(p.body.contains("Staff sign-in"));
    // The switch never redirects off-site.
    let p = agent
        .post("/lang", &[("lang", "ja"), ("back", "//evil.example/")])
        .await;
    assert_eq!(p.location().as_deref(), Some("/"));
}

#[tokio::test]
async fn pages_load_nothing_from_other_origins_and_label_every_input() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for path in [
        "/staff/signin",
        "/staff",
        "/staff/clerks",
        "/staff/departments",
    ] {
        let p = admin.agent.get(path).await;
        for attr in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "url(http",
        ] {
            assert!(!p.body.contains(attr), "{path}: {attr}");
        }
        assert!(p.body.contains("name=\"viewport\""));
        // Every visible input has a label pointing at it.
        let mut rest = p.body.as_str();
        while let Some(i) = rest.find("<input ") {
            let tag_end = rest[i..].find('>').expect("tag end") + i;
            let tag = &rest[i..tag_end];
            rest = &rest[tag_end..];
            if tag.contains("type=\"hidden\"") {
                continue;
            }
            let id_at = tag.find("id=\"").expect("input has an id") + 4;
            let id = &tag[id_at..id_at + tag[id_at..].find('"').expect("id end")];
            assert!(
                p.body.contains(&format!("for=\"{id}\"")),
                "{path}: label for {id}"
            );
        }
    }
}

#[tokio::test]
async fn the_language_switch_on_a_form_error_returns_to_the_form_page() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    admin.agent.get("/staff/departments").await;
    let res = admin
        .agent
        .client
        .post(admin.agent.url("/staff/departments"))
        .header("referer", format!("{}/staff/departments?x=1", app.base))
        .form(&[("csrf", admin.agent.csrf().as_str()), ("name", "")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 422);
    let body = res.text().await.expect("body");
    assert!(
        body.contains("name=\"back\" value=\"/staff/departments?x=1\""),
        "{body}"
    );
    let p = admin.agent.get("/staff/clerks?page=2").await;
    assert!(
        p.body
            .contains("name=\"back\" value=\"/staff/clerks?page=2\"")
    );
}
