//! One-time setup links: the first admin, clerks added by an admin (SECURITY A1–A4, A8, A10).

use futures::future::join;
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn token_of(link: &str) -> String {
    link.rsplit('/').next().expect("token").to_string()
}

#[tokio::test]
async fn the_first_admin_sets_a_password_and_an_authenticator_and_lands_on_the_staff_home() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let home = admin.agent.get("/staff").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("窓口 花子"));
    assert!(home.body.contains("管理者"));
    let actions = app.actions().await;
    for a in [
        "invitation.issued",
        "invitation.opened",
        "invitation.accepted",
        "account.enrolled",
        "session.start",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    // Once an admin exists, a restart prints no new first-admin link.
    assert_eq!(
        madoguchi::clerks::bootstrap_link(&app.state)
            .await
            .expect("bootstrap"),
        None
    );
}

#[tokio::test]
async fn a1_only_the_sha256_of_a_token_is_stored_and_it_never_reaches_a_log() {
    // SECURITY A1
    let app = spawn_app().await;
    let link = app.bootstrap_link.clone().expect("link");
    let token = token_of(&link);
    assert_eq!(token.len(), 43, "256 bits in base64url");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let stored: Vec<String> = sqlx::query_scalar("select token_hash from invitation")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("rows");
    assert_eq!(stored, vec![hex::encode(Sha256::digest(token.as_bytes()))]);
    app.setup_admin().await;
    let logs = captured_logs();
    assert!(
        logs.contains("/setup/{token}"),
        "requests are logged by route"
    );
    assert!(!logs.contains(&token), "the token appears in no log line");
    for r in app.audit().await {
        let row = format!("{r:?}");
        assert!(!row.contains(&token));
    }
}

#[tokio::test]
async fn a2_two_concurrent_enrolments_with_one_link_let_exactly_one_succeed() {
    // SECURITY A2
    let app = spawn_app().await;
    let link = app.bootstrap_link.clone().expect("link");
    let (a, b) = (app.agent(), app.agent());
    let mut secrets = vec![];
    for (agent, email) in [(&a, "a@city.example.jp"), (&b, "b@city.example.jp")] {
        agent.get(&link).await;
        let p = agent
            .post(
                &link,
                &[
                    ("name", "Racer"),
                    ("email", email),
                    ("password", ADMIN_PASSWORD),
                    ("password_confirm", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(p.status, 303);
        let page = agent.get("/setup/authenticator").await;
        let key = page.text_of_id("totp-key").expect("key");
        secrets.push(madoguchi::auth::totp::parse_display_key(&key).expect("secret"));
    }
    let (ca, cb) = (app.code(&secrets[0]), app.code(&secrets[1]));
    let (ra, rb) = join(
        a.post("/setup/authenticator", &[("code", &ca)]),
        b.post("/setup/authenticator", &[("code", &cb)]),
    )
    .await;
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [303, 404],
        "one wins, the other sees the invalid-link page"
    );
    assert_eq!(app.scalar("select count(*) from account").await, 1);
    assert_eq!(
        app.scalar("select count(*) from invitation where used_at is not null")
            .await,
        1
    );
}

#[tokio::test]
async fn a3_a_link_works_one_second_before_expiry_and_not_one_second_after() {
    // SECURITY A3: the default lifetime is 72 hours.
    let app = spawn_app().await;
    let link = app.bootstrap_link.clone().expect("link");
    let issued = app.now();
    app.clock.set(issued + 72 * 3600 - 1);
    assert_eq!(app.agent().get(&link).await.status, 200);
    app.clock.set(issued + 72 * 3600 + 1);
    assert_eq!(app.agent().get(&link).await.status, 404);
}

#[tokio::test]
async fn a4_opening_a_link_with_get_or_head_never_uses_it_up() {
    // SECURITY A4: mail scanners prefetch links.
    let app = spawn_app().await;
    let link = app.bootstrap_link.clone().expect("link");
    let scanner = app.agent();
    for _ in 0..3 {
        assert_eq!(scanner.get(&link).await.status, 200);
        assert_eq!(scanner.head(&link).await.status, 200);
    }
    assert_eq!(
        app.scalar("select count(*) from invitation where used_at is null")
            .await,
        1
    );
    app.setup_admin().await;
}

#[tokio::test]
async fn a5_setup_pages_send_no_referrer_and_finish_at_a_url_without_the_token() {
    // SECURITY A5
    let app = spawn_app().await;
    let link = app.bootstrap_link.clone().expect("link");
    let agent = app.agent();
    let page = agent.get(&link).await;
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert!(!page.body.contains("https://") && !page.body.contains("http://"));
    let admin = app.setup_admin().await;
    let _ = admin;
    let actions = app.actions().await;
    assert!(actions.contains(&"invitation.accepted".to_string()));
}

#[tokio::test]
async fn a8_invalid_expired_used_and_unknown_links_all_get_the_same_page() {
    // SECURITY A8
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let dept = app.add_department(&admin.agent, "健康福祉課").await;
    let used = app.bootstrap_link.clone().expect("used link");
    let expiring = app
        .add_clerk(&admin.agent, "expire@city.example.jp", "期限 切子", &dept)
        .await;
    let valid_later = app
        .add_clerk(&admin.agent, "x@city.example.jp", "有効 太郎", &dept)
        .await;
    let unknown = format!("{}/setup/{}", app.base, "A".repeat(43));
    let malformed = format!("{}/setup/not-a-token", app.base);
    let reissued_old = valid_later.clone();
    // Re-issuing kills the old link (A7's last clause).
    admin.agent.get("/staff/clerks").await;
    let id: String =
        sqlx::query_scalar("select account_id from account where email = 'x@city.example.jp'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("id");
    let p = admin
        .agent
        .post(&format!("/staff/clerks/{id}/resend"), &[])
        .await;
    assert_eq!(p.status, 303);
    app.clock.advance(73 * 3600);
    let _ = expiring;
    let mut pages = vec![];
    for link in [&used, &unknown, &malformed, &reissued_old] {
        pages.push(app.agent().get(link).await);
    }
    // The expiring link, opened after its lifetime.
    let pages_expired = app
        .agent()
        .get(
            &app.mails()
                .iter()
                .find(|m| m.to == "expire@city.example.jp")
                .map(|m| link_in(&m.text).expect("l"))
                .expect("mail"),
        )
        .await;
    pages.push(pages_expired);
    let first = pages[0].main();
    for p in &pages {
        assert_eq!(p.status, 404);
        assert_eq!(p.main(), first);
    }
    assert!(first.contains("このリンクは使えません"));
    // Not a dead end: the ways on are named.
    assert!(first.contains("href=\"/signin\"") && first.contains("href=\"/staff/signin\""));
    assert!(first.contains("新しい 招待を たのんで ください"));
}

#[tokio::test]
async fn a10_the_enrolment_code_cannot_be_replayed_as_the_first_sign_in_code() {
    // SECURITY A10
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let enrol_code = app.code(&admin.secret);
    let (agent, page) = app.password_step(&admin.email, &admin.password).await;
    assert_eq!(page.status, 303);
    let page = agent
        .post("/staff/signin/code", &[("code", &enrol_code)])
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("確認コードが正しくありません"));
    assert!(app.actions().await.contains(&"totp.replay".to_string()));
    app.next_step();
    let page = agent
        .post("/staff/signin/code", &[("code", &app.code(&admin.secret))])
        .await;
    assert_eq!(page.status, 303);
}

#[tokio::test]
async fn a_clerk_added_by_an_admin_gets_a_bilingual_mail_and_sets_up_with_its_link() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let dept = app.add_department(&admin.agent, "子育て支援課").await;
    let link = app
        .add_clerk(&admin.agent, "Clerk@City.example.jp", "山田 太郎", &dept)
        .await;
    assert!(
        link.starts_with("http://madoguchi.city.example.jp/setup/"),
        "{link}"
    );
    let mail = app.mails().pop().expect("mail");
    assert_eq!(mail.to, "clerk@city.example.jp");
    assert!(
        mail.subject.contains("窓口アカウントの設定のお願い"),
        "{}",
        mail.subject
    );
    assert!(
        mail.subject
            .contains("Please set up your Madoguchi account")
    );
    let ja = mail
        .text
        .find("職員アカウントが作成されました")
        .expect("Japanese body");
    let en = mail
        .text
        .find("A staff account has been created")
        .expect("English body");
    assert!(ja < en, "Japanese first");
    assert!(mail.html.contains(&link.replace('&', "&amp;")));
    let clerk = app
        .enrol(
            &link,
            None,
            "clerk@city.example.jp",
            "長い合言葉で安全に 2027",
        )
        .await;
    let home = clerk.agent.get("/staff").await;
    assert!(home.body.contains("山田 太郎"));
    assert!(home.body.contains("子育て支援課"));
    // A clerk is not an admin: the clerk list answers not found, and the refusal is audited.
    let p = clerk.agent.get("/staff/clerks").await;
    assert_eq!(p.status, 404);
    assert!(app.actions().await.contains(&"authz.denied".to_string()));
}

#[tokio::test]
async fn e8_b6_bad_setup_input_gets_clear_errors_and_keeps_the_link() {
    // SECURITY E8, B6
    let app = spawn_app().await;
    let link = app.bootstrap_link.clone().expect("link");
    let agent = app.agent();
    agent.get(&link).await;
    let long_name = "長".repeat(101);
    let page = agent
        .post(
            &link,
            &[
                ("name", &long_name),
                ("email", "not an address"),
                ("password", "password1234"),
                ("password_confirm", "password1234"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("長すぎます"));
    assert!(page.body.contains("メールアドレスの形式が正しくありません"));
    assert!(page.body.contains("推測されやすいパスワード"));
    let page = agent
        .post(
            &link,
            &[
                ("name", "Short"),
                ("email", "s@city.example.jp"),
                ("password", "elevenchars"),
                ("password_confirm", "elevenchars"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("12 文字以上"));
    let huge = "x".repeat(70 * 1024);
    let page = agent
        .post(
            &link,
            &[
                ("name", &huge),
                ("email", "a@b.jp"),
                ("password", "p"),
                ("password_confirm", "p"),
            ],
        )
        .await;
    assert_eq!(page.status, 413);
    assert!(page.body.contains("送信内容が大きすぎます"));
    assert_eq!(app.scalar("select count(*) from account").await, 0);
    app.setup_admin().await;
}

#[tokio::test]
async fn b11_the_stored_authenticator_secret_is_encrypted_with_the_configured_key() {
    // SECURITY B11
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (id, stored): (String, Vec<u8>) =
        sqlx::query_as("select account_id, totp_secret from account")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("row");
    assert!(
        !stored
            .windows(admin.secret.len())
            .any(|w| w == admin.secret.as_slice())
    );
    let key = std::fs::read_to_string(app.dir.path().join("totp.key")).expect("key file");
    assert!(!key.trim().is_empty());
    assert_eq!(
        app.state.secrets.open(&id, &stored).expect("opens"),
        admin.secret
    );
    let other = madoguchi::auth::totp::SecretBox::new(&[9u8; 32]);
    assert!(
        other.open(&id, &stored).is_err(),
        "the database alone does not reveal it"
    );
}
