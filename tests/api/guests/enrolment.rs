//! Guest invitation links (SECURITY A1, A2, A4, A6–A10).

use crate::helpers::*;

#[tokio::test]
async fn a7_a_link_is_refused_once_the_sponsor_is_disabled_and_reissuing_kills_the_old_link() {
    // SECURITY A7
    let app = spawn_app().await;
    let (admin, clerk, _) = app
        .clerk_with_department("福祉課", "s@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "介護連携", 60).await;
    let old = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "介護 太郎",
            "k@care.example.jp",
            "post",
            10,
        )
        .await;
    let id = app.guest_id("k@care.example.jp").await;
    clerk.agent.get(&format!("/staff/guests/{id}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/guests/{id}/reissue"),
            &[("reason", "メールが届かない"), ("delivery", "email")],
        )
        .await;
    assert_eq!(p.status, 303);
    let new = invite_link_in(&app.mails().pop().expect("mail").text).expect("link");
    assert_ne!(old, new);
    assert_eq!(app.agent().get(&old).await.status, 404, "the old link died");
    assert_eq!(app.agent().get(&new).await.status, 200);
    // The sponsor leaves: the link no longer works.
    let admin_agent = app.sign_in(&admin).await;
    admin_agent.get("/staff/clerks").await;
    let clerk_id: String =
        sqlx::query_scalar("select account_id from account where email = 's@city.example.jp'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("id");
    admin_agent
        .post(&format!("/staff/clerks/{clerk_id}/disable"), &[])
        .await;
    assert_eq!(app.agent().get(&new).await.status, 404);
}

#[tokio::test]
async fn a4_a6_a8_a10_guest_invitations_follow_the_link_rules() {
    // SECURITY A4, A6, A8, A10
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "規則", 60).await;
    // A6: links come from the configured public URL, whatever Host the clerk's request named.
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let expires = app.date_in(10);
    let res = clerk
        .agent
        .client
        .post(
            clerk
                .agent
                .url(&format!("/staff/channels/{channel}/guests/new")),
        )
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .form(&[
            ("csrf", clerk.agent.csrf().as_str()),
            ("name", "規則 確認"),
            ("organisation", "病院"),
            ("kind", "hospital"),
            ("email", "rule@hospital.example.jp"),
            ("permission", "post"),
            ("expires_on", expires.as_str()),
            ("delivery", "email"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let mail = app.mails().pop().expect("mail");
    let link = invite_link_in(&mail.text).expect("link");
    assert!(
        link.starts_with("http://madoguchi.city.example.jp/invite/"),
        "{link}"
    );
    assert!(!mail.raw.contains("evil.example"));
    // A4: opening, prefetching and HEAD do not use it up.
    for _ in 0..2 {
        assert_eq!(app.agent().get(&link).await.status, 200);
        assert_eq!(app.agent().head(&link).await.status, 200);
    }
    let guest = app.enrol_guest(&link, "規則を確かめる合言葉").await;
    // A10: the confirming code is not a sign-in code.
    let (agent, _) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    let p = agent
        .post("/signin/code", &[("code", &app.code(&guest.secret))])
        .await;
    assert_eq!(p.status, 422);
    // A8: a used guest link looks like any other unusable link.
    let used = app.agent().get(&link).await;
    let unknown = app
        .agent()
        .get(&format!("{}/invite/{}", app.base, "B".repeat(43)))
        .await;
    assert_eq!(used.status, 404);
    assert_eq!(used.main(), unknown.main());
}

#[tokio::test]
async fn a9_invitation_links_are_rate_limited_per_address() {
    // SECURITY A9
    let app = spawn_app().await;
    let agent = app.agent();
    let mut statuses = vec![];
    for i in 0..31 {
        statuses.push(agent.get(&format!("/invite/{:0>43}", i)).await.status);
    }
    assert_eq!(statuses[0], 404);
    assert_eq!(*statuses.last().expect("last"), 429);
}

#[tokio::test]
async fn a2_two_racing_enrolments_of_one_guest_link_make_one_account() {
    // SECURITY A2
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "競合", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "競合 者",
            "race@hospital.example.jp",
            "post",
            10,
        )
        .await;
    let (a, b) = (app.agent(), app.agent());
    let mut secrets = vec![];
    for agent in [&a, &b] {
        agent.get(&link).await;
        agent
            .post(
                &link,
                &[
                    ("password", "競合する二人の合言葉"),
                    ("password_confirm", "競合する二人の合言葉"),
                ],
            )
            .await;
        let page = agent.get("/setup/authenticator").await;
        secrets.push(
            madoguchi::auth::totp::parse_display_key(&page.text_of_id("totp-key").expect("key"))
                .expect("s"),
        );
    }
    let (ra, rb) = futures::future::join(
        a.post("/setup/authenticator", &[("code", &app.code(&secrets[0]))]),
        b.post("/setup/authenticator", &[("code", &app.code(&secrets[1]))]),
    )
    .await;
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [303, 404]);
    assert_eq!(app.scalar("select count(*) from recovery_code").await, 10);
}

#[tokio::test]
async fn a1_a_token_in_a_mistyped_address_is_not_recorded() {
    // SECURITY A1, G3
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let token = "A".repeat(43);
    let p = admin.agent.get(&format!("/invite/{token}/extra")).await;
    assert_eq!(p.status, 404);
    let rec = app.audit().await.pop().expect("recorded");
    assert_eq!(rec.action, "authz.denied");
    assert_eq!(rec.target.as_deref(), Some("/invite/[redacted]/extra"));
}

#[tokio::test]
async fn a9_one_link_gets_ten_code_tries_a_minute_from_any_address() {
    // SECURITY A9 (per account)
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "試行", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "試行 者",
            "try@example.jp",
            "post",
            10,
        )
        .await;
    let agent = app.agent();
    agent.get(&link).await;
    agent
        .post(
            &link,
            &[
                ("password", "試行する人の合言葉"),
                ("password_confirm", "試行する人の合言葉"),
            ],
        )
        .await;
    let page = agent.get("/setup/authenticator").await;
    let secret =
        madoguchi::auth::totp::parse_display_key(&page.text_of_id("totp-key").expect("key"))
            .expect("s");
    let mut last = 0;
    for _ in 0..11 {
        last = agent
            .post("/setup/authenticator", &[("code", "000000")])
            .await
            .status;
    }
    assert_eq!(last, 429);
    app.clock.advance(60);
    let p = agent
        .post("/setup/authenticator", &[("code", &app.code(&secret))])
        .await;
    assert_eq!(p.status, 303, "a new minute, a new allowance");
}

#[tokio::test]
async fn a_browser_left_half_signed_in_can_still_accept_an_invitation() {
    // A hospital worker with two guest accounts: the abandoned code step must not break enrolment.
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "二つ目", 60).await;
    let first = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "一つ目",
            "first@example.jp",
            "post",
            30,
        )
        .await;
    let g1 = app.enrol_guest(&first, "一つ目の長い合言葉").await;
    let second = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "二つ目",
            "second@example.jp",
            "post",
            30,
        )
        .await;
    let agent = app.agent();
    agent.get("/signin").await;
    let p = agent
        .post(
            "/signin",
            &[("email", &g1.sign_in_name), ("password", &g1.password)],
        )
        .await;
    assert_eq!(p.status, 303, "password step done, code step abandoned");
    agent.get(&second).await;
    agent
        .post(
            &second,
            &[
                ("password", "二つ目の長い合言葉"),
                ("password_confirm", "二つ目の長い合言葉"),
            ],
        )
        .await;
    let page = agent.get("/setup/authenticator").await;
    let secret =
        madoguchi::auth::totp::parse_display_key(&page.text_of_id("totp-key").expect("key"))
            .expect("s");
    let p = agent
        .post("/setup/authenticator", &[("code", &app.code(&secret))])
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let codes = agent.get("/setup/recovery-codes").await;
    assert_eq!(codes.body.matches("<li><code>").count(), 10);
}

#[tokio::test]
async fn d9_new_invitations_for_one_guest_are_bounded_per_hour_by_mail_and_by_sheet() {
    // SECURITY D9
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("福祉課", "s@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "介護連携", 60).await;
    app.invite_guest(
        &clerk.agent,
        &channel,
        "介護 太郎",
        "k@care.example.jp",
        "post",
        10,
    )
    .await;
    let id = app.guest_id("k@care.example.jp").await;
    clerk.agent.get(&format!("/staff/guests/{id}")).await;
    let before = app.mails().len();
    let reissue = format!("/staff/guests/{id}/reissue");
    for delivery in ["email", "print", "email", "print", "email"] {
        let p = clerk
            .agent
            .post(&reissue, &[("reason", "届かない"), ("delivery", delivery)])
            .await;
        assert_eq!(p.status, 303, "{delivery}");
        clerk.agent.get(&format!("/staff/guests/{id}")).await;
    }
    assert_eq!(app.mails().len(), before + 3);
    for delivery in ["email", "print"] {
        let p = clerk
            .agent
            .post(&reissue, &[("reason", "届かない"), ("delivery", delivery)])
            .await;
        assert_eq!(p.status, 422, "{delivery}");
        assert!(
            html_unescape(&p.main())
                .contains("この1時間に新しい招待（メールまたは招待状）をすでに 5 回"),
            "{}",
            p.main()
        );
    }
    assert_eq!(app.mails().len(), before + 3, "no more mail");
    // The next hour, one more.
    app.clock.advance(3600);
    let clerk = app.sign_in(&clerk).await;
    clerk.get(&format!("/staff/guests/{id}")).await;
    let p = clerk
        .post(&reissue, &[("reason", "届かない"), ("delivery", "email")])
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(app.mails().len(), before + 4);
    let refused = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "guest.reissue" && r.outcome == "denied")
        .count();
    assert_eq!(refused, 2);
}
