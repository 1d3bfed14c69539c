//! What an independent attack on the portal found, each closed and shown here on SQLite and
//! PostgreSQL: a hang-up that poisoned the pool, stranger lockout (B13), control characters
//! (E9), session flooding (C8), the CSV header, raced TOTP lockout (B5), file modes (H4), the
//! upload token (E10), recovery-code hashes (B9) and random public ids (D2).
//! One file keeps the findings of that one review together, so it is longer than the others.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::helpers::*;

/// A guest signed in to a channel, with the clerk who invited them.
async fn guest_in_channel(app: &TestApp) -> (Person, Person, String, GuestPerson, Agent) {
    let (admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院連絡", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "医師 一",
            "one@hospital.example.jp",
            "post",
            30,
        )
        .await;
    let guest = app.enrol_guest(&link, "病院の長い合言葉です").await;
    let agent = app.guest_sign_in(&guest).await;
    (admin, clerk, channel, guest, agent)
}

#[tokio::test]
async fn clients_that_hang_up_mid_request_never_break_the_portal_for_anyone() {
    // A pool of two connections, a steady load on a page that writes (the channel view is
    // audited) and many clients that give up after a few milliseconds, four rounds over.
    let app = spawn_app_with(Options {
        max_connections: Some(2),
        ..Options::default()
    })
    .await;
    let (_admin, _clerk, channel, _guest, agent) = guest_in_channel(&app).await;
    let cookie = agent.cookie_header();
    let page = format!("/c/{channel}");
    assert_eq!(agent.get(&page).await.status, 200);
    let url = agent.url(&page);
    for round in 0..4 {
        let mut tasks = vec![];
        for i in 0..60u64 {
            let (url, cookie) = (url.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_millis(1 + (i * 7 + round) % 25))
                    .build()
                    .expect("client");
                let _ = client.get(&url).header("cookie", &cookie).send().await;
            }));
        }
        for _ in 0..16 {
            let (url, cookie) = (url.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let _ = client.get(&url).header("cookie", &cookie).send().await;
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }
    // Every later request is answered, on every pooled connection.
    for _ in 0..30 {
        let p = agent.get(&page).await;
        assert_eq!(p.status, 200, "{}", p.main());
    }
    assert!(
        !captured_logs().contains("non-zero transaction depth"),
        "a poisoned connection was handed out"
    );
}

#[tokio::test]
async fn b13_a_stranger_cannot_lock_the_owner_out_and_the_owner_is_told() {
    // SECURITY B13
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    // Strangers guess from three machines.
    let mut strangers = vec![];
    for last in 2..5 {
        let a = Agent::from_address(&app.base, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))));
        a.get("/staff/signin").await;
        strangers.push(a);
    }
    for stranger in &strangers {
        let mut slowed = 0;
        for i in 0..8 {
            let p = stranger
                .post(
                    "/staff/signin",
                    &[("email", ADMIN_EMAIL), ("password", &format!("guess {i}"))],
                )
                .await;
            assert!(p.status == 422 || p.status == 429, "{}", p.status);
            if p.status == 429 {
                slowed += 1;
                assert!(
                    p.main().contains("しばらく受け付けを止めています"),
                    "{}",
                    p.main()
                );
                assert!(
                    p.main()
                        .contains("ほかの端末からのログインには影響しません")
                );
            }
        }
        assert_eq!(slowed, 3, "slowed after five wrong passwords");
    }
    let stranger = &strangers[0];
    // Even the right password waits from the stranger's address...
    let p = stranger
        .post(
            "/staff/signin",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 429);
    // ...but the owner, from their own machine, signs in at once.
    let (_agent, p) = app.password_step(&admin.email, &admin.password).await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert_eq!(p.location().as_deref(), Some("/staff/signin/code"));
    let full = app.sign_in(&admin).await;
    assert_eq!(full.get("/staff").await.status, 200);
    // The owner was told by mail that their account draws failures.
    let notice = app
        .mails()
        .into_iter()
        .find(|m| m.to == ADMIN_EMAIL && m.subject.contains("ログインの失敗が続いています"))
        .expect("failure notice");
    assert!(notice.text.contains("アカウントは止められておらず"));
    let actions = app.actions().await;
    assert!(actions.contains(&"sign_in.slowed_down".to_string()));
    assert!(actions.contains(&"account.failures_notified".to_string()));
    // Unknown names are slowed exactly like real ones: the answers tell nothing about which
    // addresses exist (B7).
    let statuses: Vec<u16> = {
        let mut v = vec![];
        for i in 0..6 {
            let p = strangers[1]
                .post(
                    "/staff/signin",
                    &[
                        ("email", "nobody@city.example.jp"),
                        ("password", &format!("x{i}")),
                    ],
                )
                .await;
            v.push(p.status);
        }
        v
    };
    assert_eq!(statuses, vec![422, 422, 422, 422, 422, 429]);
    // The slow-down ends by itself.
    app.clock.advance(3601);
    let p = stranger
        .post(
            "/staff/signin",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 303);
}

#[tokio::test]
async fn b5_parallel_wrong_codes_are_counted_before_they_are_checked() {
    // SECURITY B5
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (agent, p) = app.password_step(&admin.email, &admin.password).await;
    assert_eq!(p.status, 303);
    agent.get("/staff/signin/code").await;
    let csrf = agent.csrf();
    let mut tasks = vec![];
    for i in 0..15 {
        let client = agent.client.clone();
        let url = agent.url("/staff/signin/code");
        let csrf = csrf.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("code", &format!("{:06}", 100 + i)),
                ])
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 422);
    }
    let evaluated = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "sign_in.totp" && r.outcome == "failure")
        .count();
    assert_eq!(evaluated, 5, "only the window's five codes were checked");
    let refused = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "sign_in.totp" && r.outcome == "denied")
        .count();
    assert_eq!(refused, 10);
}

#[tokio::test]
async fn e9_nul_controls_and_bidi_marks_get_a_clear_400_and_are_recorded_for_a_signed_in_prober() {
    // SECURITY E9, D1
    let app = spawn_app().await;
    let (_admin, clerk, channel, _guest, guest_agent) = guest_in_channel(&app).await;
    let anonymous = app.agent();
    anonymous.get("/signin").await;
    let p = anonymous
        .post("/signin", &[("email", "a\0@b.jp"), ("password", "x")])
        .await;
    assert_eq!(p.status, 400);
    assert!(
        p.main().contains("使えない文字が含まれていました"),
        "{}",
        p.main()
    );
    assert!(p.main().contains("何も保存されていません"));
    for path in [
        "/?q=%00",
        "/signin?x=%E2%80%AE",
        "/c/%00",
        "/staff/guests/%00",
    ] {
        let p = anonymous.get(path).await;
        assert_eq!(p.status, 400, "{path}");
    }
    // Cookies pass the same check: invalid UTF-8 or a control character is refused.
    let client = reqwest::Client::new();
    for cookie in [
        &b"madoguchi-visitor=\xff\xfe"[..],
        &b"madoguchi=\xc2\x85"[..],
    ] {
        let res = client
            .get(format!("{}/signin", app.base))
            .header(
                "cookie",
                reqwest::header::HeaderValue::from_bytes(cookie).expect("header"),
            )
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 400);
    }
    // A signed-in guest's probes are refused the same way and recorded.
    let before = app
        .audit()
        .await
        .iter()
        .filter(|r| r.action == "authz.denied")
        .count();
    for path in [
        "/c/%00".to_string(),
        format!("/c/{channel}%E2%80%AE"),
        "/channel?q=%FF".to_string(),
    ] {
        let p = guest_agent.get(&path).await;
        assert_eq!(p.status, 400, "{path}");
    }
    let records: Vec<_> = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "authz.denied")
        .collect();
    assert_eq!(records.len(), before + 3);
    assert!(
        records
            .iter()
            .rev()
            .take(3)
            .all(|r| r.detail.as_deref() == Some("refused input") && r.actor_kind == "guest")
    );
    // A clerk's form with a bidi override in a name writes nothing.
    let guests_before = app.scalar("select count(*) from guest").await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{channel}/guests/new"),
            &[
                ("name", "\u{202e}一 医師"),
                ("organisation", "市立病院"),
                ("kind", "hospital"),
                ("email", "spoof@hospital.example.jp"),
                ("permission", "read"),
                ("expires_on", &app.date_in(10)),
                ("delivery", "email"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert_eq!(
        app.scalar("select count(*) from guest").await,
        guests_before
    );
    // The extension request checks its message like every field (ESC and BEL were stored).
    guest_agent.get("/account").await;
    let p = guest_agent
        .post(
            "/account/extension",
            &[("message", "もう少し\u{1b}[31m 必要です\u{7}")],
        )
        .await;
    assert_eq!(p.status, 400);
    assert_eq!(
        app.scalar("select count(*) from extension_request").await,
        0
    );
    // Multi-line text keeps its line breaks.
    let p = guest_agent
        .post("/account/extension", &[("message", "一行目\r\n二行目")])
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert_eq!(
        app.scalar("select count(*) from extension_request").await,
        1
    );
}

/// The session rows the store holds.
async fn session_rows(app: &TestApp) -> i64 {
    if on_postgres() {
        app.scalar("select count(*) from tower_sessions.session")
            .await
    } else {
        app.scalar("select count(*) from tower_sessions").await
    }
}

#[tokio::test]
async fn c8_anonymous_page_views_store_nothing_on_the_server() {
    // SECURITY C8
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let after_admin = session_rows(&app).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for _ in 0..20 {
        for path in [
            "/",
            "/signin",
            "/signin/code",
            "/staff/signin",
            "/staff/signin/code",
            "/channel",
            "/staff",
            "/no-such-page",
            "/setup/authenticator",
        ] {
            let res = client
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .expect("get");
            assert!(res.status().as_u16() < 500, "{path}");
        }
    }
    assert_eq!(
        session_rows(&app).await,
        after_admin,
        "no row per page view"
    );
    // Submitting the sign-in form with the visitor's token works, and only then is a session
    // stored.
    let (_agent, p) = app.password_step(&admin.email, &admin.password).await;
    assert_eq!(p.status, 303);
    assert_eq!(session_rows(&app).await, after_admin + 1);
    // A form without the visitor's cookie, or with a forged one, is refused.
    let p = client
        .post(format!("{}/staff/signin", app.base))
        .header("cookie", "madoguchi-visitor=abc.def")
        .form(&[("csrf", "abc"), ("email", ADMIN_EMAIL), ("password", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(p.status(), 403);
}

#[tokio::test]
async fn bulk_csv_keeps_a_first_row_that_mentions_name_and_holds_the_row_limit() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院チーム", 60).await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let upload = |csv: String| app.upload_csv(&clerk.agent, &channel, csv, "post");
    let mut many = String::new();
    for i in 0..501 {
        many.push_str(&format!("要 {i},Rename Clinic,kaname{i}@example.jp\n"));
    }
    let res = upload(many).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.expect("body").contains("500"));
    assert_eq!(app.scalar("select count(*) from guest").await, 0);
    let res = upload("要 太郎,Rename Clinic,kaname@example.jp\n".into()).await;
    assert_eq!(res.status(), 303);
    let n: i64 = app
        .scalar("select count(*) from guest where sign_in_name = 'kaname@example.jp'")
        .await;
    assert_eq!(n, 1, "the first row was issued");
}

#[cfg(unix)]
#[tokio::test]
async fn h4_the_data_directory_and_every_file_in_it_are_private() {
    // SECURITY H4
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let (_admin, _clerk, _channel, _guest, _agent) = guest_in_channel(&app).await;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(app.dir.path()), 0o700);
    let mut files = 0;
    let mut stack = vec![app.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                files += 1;
            }
        }
    }
    // Keys, and the database with its WAL on SQLite; mails land in the test's own outbox.
    assert!(files >= 2, "{files} files checked");
}

#[tokio::test]
async fn b9_recovery_codes_are_stored_keyed_and_old_plain_hashes_are_sealed_at_start() {
    // SECURITY B9
    use sha2::Digest;
    let app = spawn_app().await;
    let (_admin, _clerk, _channel, guest, _agent) = guest_in_channel(&app).await;
    let plain = |code: &str| {
        let norm: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        hex::encode(sha2::Sha256::digest(norm.as_bytes()))
    };
    for code in &guest.recovery_codes {
        let n: i64 = sqlx::query_scalar("select count(*) from recovery_code where code_hash = $1")
            .bind(plain(code))
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(n, 0, "no unsalted SHA-256 of a code is stored");
    }
    assert_eq!(
        app.scalar("select count(*) from recovery_code where keyed = 1")
            .await,
        10
    );
    // A code stored by an earlier version as a plain SHA-256 still works after a restart.
    let id = app.guest_id(&guest.sign_in_name).await;
    let legacy = "abcde-fghjk";
    sqlx::query("insert into recovery_code (account_id, code_hash, keyed) values ($1, $2, 0)")
        .bind(&id)
        .bind(plain(legacy))
        .execute(&app.state.db.pool)
        .await
        .expect("legacy row");
    madoguchi::web::server::open_state(
        app.state.config.clone(),
        madoguchi::web::server::Overrides {
            clock: Some(app.clock.clone()),
            mailer: None,
        },
    )
    .await
    .expect("restart");
    assert_eq!(
        app.scalar("select count(*) from recovery_code where keyed = 0")
            .await,
        0
    );
    let (agent, p) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    assert_eq!(p.status, 303);
    agent.get("/signin/code").await;
    let p = agent.post("/signin/code", &[("code", "ABCDE FGHJK")]).await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert_eq!(p.location().as_deref(), Some("/channel"));
}

#[tokio::test]
async fn d2_public_ids_are_random_and_knowing_one_opens_nothing() {
    // SECURITY D2
    let app = spawn_app().await;
    let (_admin, clerk, channel, _guest, guest_agent) = guest_in_channel(&app).await;
    let other = app.create_channel(&clerk.agent, "別案件", 60).await;
    let third = app.create_channel(&clerk.agent, "第三", 60).await;
    for id in [&channel, &other, &third] {
        assert_eq!(id.len(), 22, "128 random bits, URL-safe: {id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
    assert_ne!(channel, other);
    // Consecutive ids share no prefix a counter would give.
    assert_ne!(&other[..6], &third[..6]);
    // The guest knows the other channel's id and still gets the ordinary 404, recorded.
    let p = guest_agent.get(&format!("/c/{other}")).await;
    assert_eq!(p.status, 404);
    let last = app.audit().await.pop().expect("record");
    assert_eq!(last.action, "authz.denied");
}

/// What a person's data looks like, to prove a refused request wrote nothing.
async fn footprint(app: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for sql in [
        "select count(*) from account",
        "select count(*) from account where status = 'active'",
        "select count(*) from guest",
        "select count(*) from channel",
        "select count(*) from channel where status = 'archived'",
        "select count(*) from department",
        "select count(*) from message",
        "select count(*) from extension_request",
        "select count(*) from invitation",
        "select count(*) from login where ended_at is null",
    ] {
        out.push(app.scalar(sql).await);
    }
    out
}

async fn refused_inputs(app: &TestApp) -> usize {
    app.audit()
        .await
        .iter()
        .filter(|r| r.action == "authz.denied" && r.detail.as_deref() == Some("refused input"))
        .count()
}

#[tokio::test]
async fn e8_e9_every_route_refuses_every_bad_input_with_a_clear_4xx_and_writes_nothing() {
    // SECURITY E8, E9 — every route × NUL, C0 and C1 controls, bidi marks, a line separator,
    // invalid UTF-8 (in the path, the query and the form), over-long values, duplicated and
    // missing fields; asked by a signed-in admin and a signed-in guest.
    let app = spawn_app().await;
    let (admin, _clerk, channel, guest, guest_agent) = guest_in_channel(&app).await;
    let guest_id = app.guest_id(&guest.sign_in_name).await;
    let fields = [
        "name",
        "email",
        "password",
        "password_confirm",
        "current",
        "code",
        "purpose",
        "ends_on",
        "organisation",
        "kind",
        "permission",
        "expires_on",
        "delivery",
        "reason",
        "message",
        "body",
        "department",
        "lang",
        "back",
        "q",
    ];
    let bad_values: [(&str, &str); 7] = [
        ("NUL", "%00"),
        ("ESC", "%1B"),
        ("C1", "%C2%85"),
        ("RLO", "%E2%80%AE"),
        ("LRI", "%E2%81%A6"),
        ("LS", "%E2%80%A8"),
        ("bad UTF-8", "%FF%FE"),
    ];
    let mut expected_records = refused_inputs(&app).await;
    for agent in [&admin.agent, &guest_agent] {
        for route in madoguchi::router::route_paths() {
            let path = fill_route(route, &channel, &guest_id, "x", "x", "x");
            for (what, bad) in bad_values {
                let before = footprint(&app).await;
                // In the query of a GET.
                let p = agent.get(&format!("{path}?q=a{bad}b")).await;
                assert_eq!(p.status, 400, "GET {path}?q {what}");
                // In a path segment.
                let p = agent.get(&format!("{path}/a{bad}b")).await;
                assert_eq!(p.status, 400, "GET {path}/… {what}");
                // In every field of a form post with a valid token.
                agent.get(&path).await;
                let mut body = format!("csrf={}", agent.csrf());
                for f in fields {
                    body.push_str(&format!("&{f}=a{bad}b"));
                }
                let res = agent
                    .client
                    .post(agent.url(&path))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .expect("post");
                assert_eq!(res.status().as_u16(), 400, "POST {path} {what}");
                let text = res.text().await.expect("body");
                assert!(text.contains("使えない文字が含まれていました"), "{path}");
                assert_eq!(footprint(&app).await, before, "POST {path} {what} wrote");
                expected_records += 3;
            }
            // Over-long values: refused before any handler reads them.
            let before = footprint(&app).await;
            agent.get(&path).await;
            let long = "あ".repeat(30_000);
            let res = agent
                .client
                .post(agent.url(&path))
                .form(&[
                    ("csrf", agent.csrf().as_str()),
                    ("name", &long),
                    ("body", &long),
                ])
                .send()
                .await
                .expect("post");
            assert!(
                (400..500).contains(&res.status().as_u16()),
                "POST {path} over-long: {}",
                res.status()
            );
            assert_eq!(footprint(&app).await, before, "POST {path} over-long wrote");
        }
    }
    // Each signed-in probe is in the audit trail (D1).
    assert_eq!(refused_inputs(&app).await, expected_records);
    // Duplicated and missing fields never give a 5xx; routes that end the session go last.
    let mut routes = madoguchi::router::route_paths();
    routes.sort_by_key(|r| r.contains("signout"));
    for agent in [&admin.agent, &guest_agent] {
        for route in &routes {
            let path = fill_route(route, &channel, &guest_id, "x", "x", "x");
            for extra in ["", "&name=a&name=b&email=a@b.jp&email=c@d.jp&code=1&code=2"] {
                agent.get(&path).await;
                let res = agent
                    .client
                    .post(agent.url(&path))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("csrf={}{extra}", agent.csrf()))
                    .send()
                    .await
                    .expect("post");
                assert!(
                    res.status().as_u16() < 500,
                    "POST {path} {extra:?}: {}",
                    res.status()
                );
            }
        }
    }
}

/// Guest lists at city size: 100,000 guests with their invitations in one department. Prints
/// how long the list pages take; run with `cargo test --release -- --ignored --nocapture
/// guest_lists_at_city_size` (on PostgreSQL with `MADOGUCHI_TEST_DATABASE_URL` set).
#[tokio::test]
#[ignore]
async fn guest_lists_at_city_size() {
    let app = spawn_app().await;
    let (_admin, clerk, department) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "大規模", 300).await;
    let sponsor: String =
        sqlx::query_scalar("select account_id from account where email = 'h@city.example.jp'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("sponsor");
    let now = app.now();
    let mut tx = app.state.db.pool.begin().await.expect("tx");
    for chunk in 0..1000 {
        let mut accounts = vec![];
        let mut guests = vec![];
        let mut invitations = vec![];
        for i in 0..100 {
            let n = chunk * 100 + i;
            let id = format!("g{n:08}");
            accounts.push(format!(
                "('{id}', 'guest', 'g:{id}', '職員 {n}', 'invited', {now})"
            ));
            guests.push(format!(
                "('{id}', '{channel}', '病院 {}', 'hospital', 1, 'read', '{sponsor}', {}, \
                 'p{n}@hospital.example.jp')",
                n % 50,
                now + 86_400 + n
            ));
            invitations.push(format!(
                "('i{n:08}', 't{n:08}', 'guest', '{id}', {now}, {})",
                now + 3600
            ));
        }
        for (sql, rows) in [
            (
                "insert into account (account_id, kind, email, name, status, created_at) values ",
                &accounts,
            ),
            (
                "insert into guest (account_id, channel_id, organisation, guest_kind, has_email, \
                 permission, sponsor_id, expires_at, sign_in_name) values ",
                &guests,
            ),
            (
                "insert into invitation (invitation_id, token_hash, purpose, account_id, \
                 created_at, expires_at) values ",
                &invitations,
            ),
        ] {
            sqlx::query(&format!("{sql}{}", rows.join(", ")))
                .execute(&mut *tx)
                .await
                .expect("insert");
        }
    }
    tx.commit().await.expect("commit");
    // What runs in service after a load: the sweeper's statistics refresh on SQLite,
    // autovacuum's ANALYZE on PostgreSQL.
    if on_postgres() {
        sqlx::query("analyze")
            .execute(&app.state.db.pool)
            .await
            .expect("analyze");
    } else {
        sqlx::query("analyze")
            .execute(&app.state.db.pool)
            .await
            .expect("x");
    }
    // SQLite connections read statistics when they open; pooled ones are replaced within
    // their 30-minute lifetime. Measure through connections opened after the refresh.
    let state = madoguchi::web::server::open_state(
        app.state.config.clone(),
        madoguchi::web::server::Overrides {
            clock: Some(app.clock.clone()),
            mailer: None,
        },
    )
    .await
    .expect("state");
    use madoguchi::guests::store::{Filter, Sort, list};
    for (what, filter) in [
        (
            "department, by expiry, page 1",
            Filter {
                department_id: Some(department.clone()),
                ..Filter::default()
            },
        ),
        (
            "department, by name, page 1000",
            Filter {
                department_id: Some(department.clone()),
                sort: Sort::Name,
                page: 1000,
                ..Filter::default()
            },
        ),
        (
            "channel, status opened",
            Filter {
                channel_id: Some(channel.clone()),
                status: Some("opened".into()),
                ..Filter::default()
            },
        ),
        (
            "department, search",
            Filter {
                department_id: Some(department.clone()),
                search: Some("職員 9999".into()),
                ..Filter::default()
            },
        ),
    ] {
        let _ = list(&state.db, &filter).await.expect("warm");
        let t = std::time::Instant::now();
        let runs = 5;
        let mut total = 0;
        for _ in 0..runs {
            let (rows, n) = list(&state.db, &filter).await.expect("list");
            assert!(rows.len() <= 50);
            total = n;
        }
        println!(
            "guest list, 100,000 guests, {what}: {:?} per list ({total} match)",
            t.elapsed() / runs
        );
    }
}

/// A guest's account in one channel.
async fn guest_in(app: &TestApp, channel: &str, name: &str) -> String {
    sqlx::query_scalar(
        "select account_id from guest where channel_id = $1 and sign_in_name = $2 \
         order by account_id",
    )
    .bind(channel)
    .bind(name)
    .fetch_all(&app.state.db.pool)
    .await
    .expect("guest")
    .pop()
    .expect("one guest")
}

#[tokio::test]
async fn d7_one_person_is_a_guest_of_two_channels_signs_in_to_each_and_is_invited_again() {
    // SECURITY D7
    let app = spawn_app().await;
    let (admin, clerk_a, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let clerk_b = app
        .clerk_in_new_department(&admin.agent, "教育課", "e@city.example.jp")
        .await;
    let health = app.create_channel(&clerk_a.agent, "在宅医療連携", 60).await;
    let school = app.create_channel(&clerk_b.agent, "学校保健", 60).await;
    let nurse = "nurse@hospital.example.jp";
    let link_a = app
        .invite_guest(&clerk_a.agent, &health, "看護 花子", nurse, "post", 30)
        .await;
    // Another department issuing the same address, a staff address, or a fresh one: the same
    // answer, so a clerk learns nothing about accounts outside their department.
    let issue = |channel: String, email: &'static str| {
        let agent = &clerk_b.agent;
        let expires = app.date_in(30);
        async move {
            agent.get(&format!("/staff/channels/{channel}")).await;
            agent
                .post(
                    &format!("/staff/channels/{channel}/guests/new"),
                    &[
                        ("name", "看護 花子"),
                        ("organisation", "市立病院"),
                        ("kind", "hospital"),
                        ("email", email),
                        ("permission", "read"),
                        ("expires_on", &expires),
                        ("delivery", "email"),
                    ],
                )
                .await
        }
    };
    let used_elsewhere = issue(school.clone(), nurse).await;
    let staff_address = issue(school.clone(), "h@city.example.jp").await;
    let fresh = issue(school.clone(), "fresh@hospital.example.jp").await;
    for p in [&used_elsewhere, &staff_address, &fresh] {
        assert_eq!(p.status, 303, "{}", p.main());
        // The new guest's own page, whatever the address.
        let page_of = |p: &Page| {
            p.location()
                .and_then(|l| l.rsplit_once('/').map(|x| x.0.to_string()))
        };
        assert_eq!(page_of(p), page_of(&fresh));
    }
    let link_b = app
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.to == nurse)
        .and_then(|m| invite_link_in(&m.text))
        .expect("second invitation");
    assert_ne!(link_a, link_b);
    // The nurse enrols in both with the same password: after it they choose the channel.
    let in_health = app.enrol_guest(&link_a, "看護師の長い合言葉です").await;
    let in_school = app.enrol_guest(&link_b, "看護師の長い合言葉です").await;
    assert_eq!(in_health.sign_in_name, nurse);
    assert_eq!(in_school.sign_in_name, nurse);
    let (agent, p) = app
        .guest_password_step(nurse, "看護師の長い合言葉です")
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location().as_deref(), Some("/signin/choose"));
    // Nothing else opens before a channel and its code are given (B8).
    assert_eq!(agent.get("/channel").await.status, 303);
    let page = agent.get("/signin/choose").await;
    assert_eq!(page.status, 200);
    assert!(page.main().contains("どのチャンネルにログインしますか"));
    assert!(page.main().contains("在宅医療連携") && page.main().contains("学校保健"));
    // An account the password did not open cannot be chosen (D4).
    let stranger_id = guest_in(&app, &school, "fresh@hospital.example.jp").await;
    let p = agent
        .post("/signin/choose", &[("account", &stranger_id)])
        .await;
    assert_eq!(p.status, 400);
    let school_id = guest_in(&app, &school, nurse).await;
    let p = agent
        .post("/signin/choose", &[("account", &school_id)])
        .await;
    assert_eq!(p.location().as_deref(), Some("/signin/code"));
    app.next_step();
    // The other channel's code does not open this account.
    let p = agent
        .post("/signin/code", &[("code", &app.code(&in_health.secret))])
        .await;
    assert_eq!(p.status, 422);
    let p = agent
        .post("/signin/code", &[("code", &app.code(&in_school.secret))])
        .await;
    assert_eq!(p.location().as_deref(), Some("/channel"));
    let home = agent.get(&format!("/c/{school}")).await;
    assert_eq!(home.status, 200);
    assert!(home.main().contains("学校保健"));
    assert_eq!(agent.get(&format!("/c/{health}")).await.status, 404);

    // While the nurse is a guest of the health channel, inviting them there again is refused
    // within that channel; once their access there ends, they can be invited again.
    clerk_a
        .agent
        .get(&format!("/staff/channels/{health}"))
        .await;
    let p = clerk_a
        .agent
        .post(
            &format!("/staff/channels/{health}/guests/new"),
            &[
                ("name", "看護 花子"),
                ("organisation", "市立病院"),
                ("kind", "hospital"),
                ("email", nurse),
                ("permission", "post"),
                ("expires_on", &app.date_in(30)),
                ("delivery", "email"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("すでに登録されています"));
    let health_id = guest_in(&app, &health, nurse).await;
    clerk_a
        .agent
        .get(&format!("/staff/guests/{health_id}"))
        .await;
    let p = clerk_a
        .agent
        .post(
            &format!("/staff/guests/{health_id}/revoke"),
            &[("reason", "担当交代のため"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    let link_c = app
        .invite_guest(&clerk_a.agent, &health, "看護 花子", nurse, "post", 30)
        .await;
    // A different password this time: it opens the new account straight away.
    let again = app.enrol_guest(&link_c, "新しい別の合言葉です").await;
    let (agent, p) = app.guest_password_step(nurse, "新しい別の合言葉です").await;
    assert_eq!(p.location().as_deref(), Some("/signin/code"));
    app.next_step();
    let p = agent
        .post("/signin/code", &[("code", &app.code(&again.secret))])
        .await;
    assert_eq!(p.location().as_deref(), Some("/channel"));
    assert_eq!(agent.get(&format!("/c/{health}")).await.status, 200);
    assert_eq!(agent.get(&format!("/c/{school}")).await.status, 404);
}
