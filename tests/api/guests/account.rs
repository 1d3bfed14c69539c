//! The guest's own account: recovery codes, password, authenticator, extension requests,
//! closing (SECURITY B9, B10, C6).

use crate::helpers::*;

#[tokio::test]
async fn b9_a_recovery_code_signs_in_once_is_audited_and_the_owner_is_told() {
    // SECURITY B9
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "検診", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "医師 次郎",
            "dr@hospital.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "医師の長い合言葉です").await;
    let stored: Vec<String> = sqlx::query_scalar("select code_hash from recovery_code")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("rows");
    assert_eq!(stored.len(), 10);
    assert!(
        stored
            .iter()
            .all(|h| !guest.recovery_codes.iter().any(|c| h.contains(c.as_str()))),
        "hashed"
    );
    let code = guest.recovery_codes[4].to_uppercase();
    let (agent, _) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    let p = agent.post("/signin/code", &[("code", &code)]).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location().as_deref(), Some("/channel"));
    let mail = app.mails().pop().expect("notice");
    assert_eq!(mail.to, "dr@hospital.example.jp");
    assert!(mail.subject.contains("復旧コードが使われました"));
    assert!(mail.text.contains("残りの復旧コードは 9 個"));
    assert!(
        app.actions()
            .await
            .contains(&"sign_in.recovery_code".to_string())
    );
    let (agent, _) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    let p = agent.post("/signin/code", &[("code", &code)]).await;
    assert_eq!(p.status, 422, "each code works once");
}

#[tokio::test]
async fn b10_c6_changing_the_password_needs_both_factors_and_ends_other_sessions() {
    // SECURITY B10, C6
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "検診", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "医師 三郎",
            "d3@hospital.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "医師三郎の合言葉です").await;
    let other = app.guest_sign_in(&guest).await;
    guest.agent.get("/account").await;
    app.next_step();
    let p = guest
        .agent
        .post(
            "/account/password",
            &[
                ("current", "違うパスワードです"),
                ("code", &app.code(&guest.secret)),
                ("password", "新しい合言葉です"),
                ("password_confirm", "新しい合言葉です"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body
            .contains("今のパスワードまたは確認コードが正しくありません")
    );
    app.next_step();
    let p = guest
        .agent
        .post(
            "/account/password",
            &[
                ("current", &guest.password),
                ("code", &app.code(&guest.secret)),
                ("password", "新しい合言葉です"),
                ("password_confirm", "新しい合言葉です"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert_eq!(guest.agent.get("/account").await.status, 200);
    assert_eq!(
        other.get("/account").await.status,
        303,
        "other sessions ended"
    );
    let (_, p) = app
        .guest_password_step(&guest.sign_in_name, "新しい合言葉です")
        .await;
    assert_eq!(p.status, 303);

    // C6: the guest ends their other sessions; the clerk ends all of them.
    let third = app
        .guest_sign_in(&GuestPerson {
            password: "新しい合言葉です".into(),
            ..guest_copy(&guest)
        })
        .await;
    guest.agent.get("/account").await;
    let p = guest.agent.post("/account/sessions/end-others", &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(third.get("/account").await.status, 303);
    assert_eq!(guest.agent.get("/account").await.status, 200);
    let id = app.guest_id(&guest.sign_in_name).await;
    let clerk_agent = app.sign_in(&clerk).await;
    clerk_agent.get(&format!("/staff/guests/{id}")).await;
    let p = clerk_agent
        .post(
            &format!("/staff/guests/{id}/end-sessions"),
            &[("reason", "端末紛失の連絡")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(guest.agent.get("/account").await.status, 303);
}

fn guest_copy(g: &GuestPerson) -> GuestPerson {
    GuestPerson {
        sign_in_name: g.sign_in_name.clone(),
        password: g.password.clone(),
        secret: g.secret.clone(),
        recovery_codes: g.recovery_codes.clone(),
        agent: Agent::new(&g.agent.base),
    }
}

#[tokio::test]
async fn b10_an_authenticator_reset_ends_access_and_the_guest_enrols_again_through_a_new_link() {
    // SECURITY B10
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "検診", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "医師 四郎",
            "d4@hospital.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "医師四郎の合言葉です").await;
    let id = app.guest_id(&guest.sign_in_name).await;
    clerk.agent.get(&format!("/staff/guests/{id}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/guests/{id}/reset-authenticator"),
            &[("reason", "スマートフォン紛失"), ("delivery", "email")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert!(
        !p.body.contains("totp-key"),
        "the clerk never sees a secret"
    );
    assert_eq!(guest.agent.get("/account").await.status, 303);
    let (_, p) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    assert_eq!(p.status, 422, "the old credentials are gone");
    let new_link = invite_link_in(&app.mails().pop().expect("mail").text).expect("link");
    let again = app.enrol_guest(&new_link, "新しく登録し直した合言葉").await;
    assert_ne!(again.secret, guest.secret);
    app.guest_sign_in(&again).await;
    assert!(
        app.actions()
            .await
            .contains(&"guest.authenticator_reset".to_string())
    );
}

#[tokio::test]
async fn a_guest_asks_for_more_time_and_sees_the_sponsors_decision_and_reason() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "退院支援", 80).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "相談 員",
            "mw@hospital.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "相談員の長い合言葉").await;
    let account = guest.agent.get("/account").await;
    assert!(account.body.contains("担当 職員"), "the sponsor is shown");
    assert!(account.body.contains("健康課"), "and the department");
    assert!(
        account
            .text_of_id("expires-on")
            .expect("expiry")
            .contains(&app.long_date_in(10))
    );
    let p = guest
        .agent
        .post("/account/extension", &[("message", "3月末まで必要です")])
        .await;
    assert_eq!(p.status, 303);
    let mail = app.mails().pop().expect("mail to sponsor");
    assert_eq!(mail.to, "h@city.example.jp");
    assert!(mail.subject.contains("利用期間の延長の依頼"));
    let id = app.guest_id("mw@hospital.example.jp").await;
    let clerk_agent = app.sign_in(&clerk).await;
    let page = clerk_agent.get(&format!("/staff/guests/{id}")).await;
    assert!(page.body.contains("3月末まで必要です"));
    let action = page
        .body
        .find("/staff/extension-requests/")
        .map(|i| {
            let rest = &page.body[i..];
            rest[..rest.find('"').expect("end")].to_string()
        })
        .expect("decide form");
    let until = app.date_in(40);
    let p = clerk_agent
        .post(
            &action,
            &[
                ("decision", "approve"),
                ("expires_on", &until),
                ("reason", "病院の要望どおり"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let account = guest.agent.get("/account").await;
    assert!(account.body.contains("延長が認められました"));
    assert!(account.body.contains("病院の要望どおり"));
    assert!(
        account
            .text_of_id("expires-on")
            .expect("expiry")
            .contains(&app.long_date_in(40))
    );
    let mail = app.mails().pop().expect("decision mail");
    assert_eq!(mail.to, "mw@hospital.example.jp");
    // A second request is refused with a reason the guest sees.
    guest
        .agent
        .post("/account/extension", &[("message", "もう少し")])
        .await;
    let page = clerk_agent.get(&format!("/staff/guests/{id}")).await;
    let action = page
        .body
        .find("/staff/extension-requests/")
        .map(|i| {
            let rest = &page.body[i..];
            rest[..rest.find('"').expect("end")].to_string()
        })
        .expect("decide form");
    clerk_agent
        .post(&action, &[("decision", "refuse"), ("reason", "上限のため")])
        .await;
    let account = guest.agent.get("/account").await;
    assert!(account.body.contains("延長は認められませんでした"));
    assert!(account.body.contains("上限のため"));
}

#[tokio::test]
async fn a_guest_can_close_their_account() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "閉鎖", 80).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "退会 者",
            "bye@hospital.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "退会する人の合言葉").await;
    guest.agent.get("/account").await;
    let p = guest
        .agent
        .post("/account/close", &[("current", "違う")])
        .await;
    assert_eq!(p.status, 422);
    let p = guest
        .agent
        .post("/account/close", &[("current", &guest.password)])
        .await;
    assert_eq!(p.status, 303);
    let id = app.guest_id("bye@hospital.example.jp").await;
    assert_eq!(app.status_of(&id).await, "closed");
    // The right password now hears that the account was closed, and whom to ask.
    let (_, p) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    assert_eq!(p.status, 403);
    assert!(p.main().contains("アカウントを 閉じた"), "{}", p.main());
}

#[tokio::test]
async fn b10_a_guest_changes_their_authenticator_with_both_factors_and_other_sessions_end() {
    // SECURITY B10
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "機種変更", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "機種 変更",
            "phone@example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "機種変更する人の合言葉").await;
    let other = app.guest_sign_in(&guest).await;
    guest.agent.get("/account").await;
    app.next_step();
    let p = guest
        .agent
        .post(
            "/account/authenticator",
            &[("current", &guest.password), ("code", "000000")],
        )
        .await;
    assert_eq!(p.status, 422, "a wrong code does not start the change");
    app.next_step();
    let p = guest
        .agent
        .post(
            "/account/authenticator",
            &[
                ("current", &guest.password),
                ("code", &app.code(&guest.secret)),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = guest.agent.get("/account/authenticator").await;
    let new_secret =
        madoguchi::auth::totp::parse_display_key(&page.text_of_id("totp-key").expect("key"))
            .expect("s");
    assert_ne!(new_secret, guest.secret);
    let p = guest
        .agent
        .post(
            "/account/authenticator/confirm",
            &[("code", &app.code(&new_secret))],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert_eq!(guest.agent.get("/account").await.status, 200);
    assert_eq!(
        other.get("/account").await.status,
        303,
        "other sessions ended"
    );
    // The old app no longer signs in; the new one does.
    let (agent, _) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    app.next_step();
    assert_eq!(
        agent
            .post("/signin/code", &[("code", &app.code(&guest.secret))])
            .await
            .status,
        422
    );
    app.next_step();
    let p = agent
        .post("/signin/code", &[("code", &app.code(&new_secret))])
        .await;
    assert_eq!(p.status, 303);
    assert!(
        app.actions()
            .await
            .contains(&"account.authenticator_change".to_string())
    );
}

#[tokio::test]
async fn the_account_page_counts_wrong_passwords_like_sign_in() {
    // SECURITY B5, A9
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "推測", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "推測 対象",
            "guess@example.jp",
            "post",
            30,
        )
        .await;
    let guest = app.enrol_guest(&link, "推測されない合言葉").await;
    guest.agent.get("/account").await;
    for i in 0..5 {
        let p = guest
            .agent
            .post("/account/close", &[("current", &format!("違う {i}"))])
            .await;
        assert_eq!(p.status, 422);
    }
    let p = guest
        .agent
        .post("/account/close", &[("current", &guest.password)])
        .await;
    assert_eq!(p.status, 422, "throttled after five wrong passwords");
    assert!(app.actions().await.contains(&"account.lockout".to_string()));
    app.clock.advance(61);
    // Stay inside the idle limit: the session is still valid after a minute.
    let p = guest
        .agent
        .post("/account/close", &[("current", &guest.password)])
        .await;
    assert_eq!(p.status, 303);
}
