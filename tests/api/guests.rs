//! The guest lifecycle with a moved clock (SECURITY A5, A7, B9, B10, C5–C7, D4, D5).

use madoguchi::guests::sweep::sweep;

use crate::helpers::*;

const GUEST_EMAIL: &str = "nurse@hospital.example.jp";
const GUEST_PASSWORD: &str = "病院の合言葉 2027";

#[tokio::test]
async fn lifecycle_issue_open_enrol_sign_in_remind_extend_expire() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康福祉課", "clerk@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "在宅医療連携", 120).await;
    let link = app
        .invite_guest(&clerk.agent, &channel, "看護 花子", GUEST_EMAIL, "post", 30)
        .await;
    // The mail: Japanese first, English below, both parts, saying who invites and for what.
    let mail = app
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.to == GUEST_EMAIL)
        .expect("mail");
    assert!(
        mail.subject
            .starts_with("窓口へのご招待 / Your invitation to Madoguchi")
    );
    let ja = mail
        .text
        .find("担当 職員 から、案件「在宅医療連携」")
        .expect("ja");
    let en = mail
        .text
        .find("invites you to the project \"在宅医療連携\"")
        .expect("en");
    assert!(ja < en);
    assert!(mail.html.contains("在宅医療連携"));
    assert!(link.starts_with("http://madoguchi.city.example.jp/invite/"));

    // The clerk sees the invitation as issued, then opened.
    let list = clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    assert!(list.body.contains("招待済み"));
    let opened = app.agent().get(&link).await;
    assert!(opened.body.contains("担当 職員"), "who invited");
    assert!(opened.body.contains("在宅医療連携"), "for what");
    assert_eq!(
        opened.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let list = clerk
        .agent
        .get(&format!("/staff/channels/{channel}?status=opened"))
        .await;
    assert!(list.body.contains("看護 花子"));

    let guest = app.enrol_guest(&link, GUEST_PASSWORD).await;
    assert_eq!(guest.sign_in_name, GUEST_EMAIL);
    let home = guest.agent.get("/channel").await;
    assert_eq!(
        home.location().as_deref(),
        Some(format!("/c/{channel}").as_str())
    );
    let page = guest.agent.get(&format!("/c/{channel}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("在宅医療連携"));
    assert_eq!(
        page.header("cache-control").as_deref(),
        Some("no-store"),
        "C7"
    );
    let list = clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    assert!(
        list.body.contains("利用中"),
        "active after the channel view"
    );

    // Sign out and in again with TOTP.
    guest.agent.post("/signout", &[]).await;
    assert_eq!(guest.agent.get("/channel").await.status, 303);
    let agent = app.guest_sign_in(&guest).await;

    // Seven days before expiry: one reminder to the guest and one to the sponsor.
    let guest_id = app.guest_id(GUEST_EMAIL).await;
    let expires_at: i64 = sqlx::query_scalar("select expires_at from guest where account_id = $1")
        .bind(&guest_id)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("expiry");
    app.clock.set(expires_at - 7 * 86_400 + 60);
    let before = app.mails().len();
    let report = sweep(&app.state).await.expect("sweep");
    assert_eq!((report.expired, report.reminders), (0, 1));
    let mails = app.mails();
    assert_eq!(mails.len(), before + 2);
    let to_sponsor = mails
        .iter()
        .rev()
        .find(|m| m.to == "clerk@city.example.jp")
        .expect("sponsor mail");
    assert!(to_sponsor.subject.contains("利用期限が近づいています"));
    assert!(
        to_sponsor
            .text
            .contains(&format!("/staff/guests/{guest_id}#extend"))
    );
    let to_guest = mails
        .iter()
        .rev()
        .find(|m| m.to == GUEST_EMAIL)
        .expect("guest mail");
    assert!(to_guest.text.contains("在宅医療連携"));
    assert_eq!(
        sweep(&app.state).await.expect("sweep").reminders,
        0,
        "each reminder once"
    );
    app.clock.set(expires_at - 86_400 + 60);
    assert_eq!(
        sweep(&app.state).await.expect("sweep").reminders,
        1,
        "the 1-day reminder"
    );

    // The clerk extends within policy, with a reason.
    let clerk_agent = app.sign_in(&clerk).await;
    clerk_agent.get(&format!("/staff/guests/{guest_id}")).await;
    let new_date = app.date_in(20);
    let p = clerk_agent
        .post(
            &format!("/staff/guests/{guest_id}/extend"),
            &[("expires_on", &new_date), ("reason", "退院調整が続くため")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let page = clerk_agent.get(&format!("/staff/guests/{guest_id}")).await;
    assert!(page.body.contains(&new_date));
    let audit = app.audit().await;
    let ext = audit
        .iter()
        .find(|r| r.action == "guest.extend")
        .expect("extend audited");
    assert!(
        ext.detail
            .as_deref()
            .unwrap_or("")
            .contains("退院調整が続くため")
    );

    // Expiry: the very next request is refused, before any sweeper ran.
    drop(agent);
    let new_expiry = madoguchi::clock::end_of_day(&new_date).expect("date");
    app.clock.set(new_expiry - 600);
    let agent = app.guest_sign_in(&guest).await;
    app.clock.set(new_expiry - 1);
    assert_eq!(agent.get("/account").await.status, 200);
    app.clock.set(new_expiry);
    let p = agent.get("/account").await;
    assert_eq!(p.status, 303, "C5: refused at once");
    assert_eq!(
        app.status_of(&guest_id).await,
        "active",
        "no sweeper has run"
    );
    let (_, p) = app.guest_password_step(GUEST_EMAIL, GUEST_PASSWORD).await;
    assert_eq!(p.status, 422, "an expired guest cannot sign in");
    let report = sweep(&app.state).await.expect("sweep");
    assert_eq!(report.expired, 1);
    assert_eq!(app.status_of(&guest_id).await, "expired");
    let rec = app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "guest.expired")
        .expect("audited");
    assert_eq!(rec.actor_kind, "system");
    assert_eq!(rec.channel_id.as_deref(), Some(channel.as_str()));
}

#[tokio::test]
async fn c5_revoking_a_guest_ends_their_sessions_and_their_pending_link_at_once() {
    // SECURITY C5, A7
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民課", "c@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "避難所運営", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "学校 先生",
            "t@school.example.jp",
            "read",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "学校の先生の合言葉").await;
    let second = app.guest_sign_in(&guest).await;
    let pending_link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "未登録 者",
            "p@school.example.jp",
            "read",
            10,
        )
        .await;
    for (email, agent_guest) in [
        ("t@school.example.jp", true),
        ("p@school.example.jp", false),
    ] {
        let id = app.guest_id(email).await;
        clerk.agent.get(&format!("/staff/guests/{id}")).await;
        let p = clerk
            .agent
            .post(&format!("/staff/guests/{id}/revoke"), &[("reason", "")])
            .await;
        assert_eq!(p.status, 422, "a reason is required");
        assert!(p.body.contains("入力してください"));
        let p = clerk
            .agent
            .post(
                &format!("/staff/guests/{id}/revoke"),
                &[("reason", "異動のため")],
            )
            .await;
        assert_eq!(p.status, 303);
        assert_eq!(app.status_of(&id).await, "revoked");
        let _ = agent_guest;
    }
    assert_eq!(guest.agent.get(&format!("/c/{channel}")).await.status, 303);
    assert_eq!(second.get("/account").await.status, 303);
    assert_eq!(
        app.agent().get(&pending_link).await.status,
        404,
        "the pending link died"
    );
    let rec = app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "guest.revoke")
        .expect("audit");
    assert!(rec.detail.as_deref().unwrap_or("").contains("異動のため"));
}

#[tokio::test]
async fn archiving_a_channel_ends_every_guest_and_revoke_all_does_so_without_archiving() {
    // SECURITY C5, A7
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("教育委員会", "e@city.example.jp")
        .await;
    let a = app.create_channel(&clerk.agent, "学校連絡 A", 60).await;
    let b = app.create_channel(&clerk.agent, "学校連絡 B", 60).await;
    let la = app
        .invite_guest(
            &clerk.agent,
            &a,
            "A 先生",
            "a@school.example.jp",
            "post",
            10,
        )
        .await;
    let lb = app
        .invite_guest(
            &clerk.agent,
            &b,
            "B 先生",
            "b@school.example.jp",
            "post",
            10,
        )
        .await;
    let ga = app.enrol_guest(&la, "A先生の長い合言葉").await;
    let gb = app.enrol_guest(&lb, "B先生の長い合言葉").await;
    let pending = app
        .invite_guest(
            &clerk.agent,
            &a,
            "A 事務",
            "ax@school.example.jp",
            "read",
            10,
        )
        .await;

    clerk.agent.get(&format!("/staff/channels/{b}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{b}/revoke-all"),
            &[("reason", "年度末")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(gb.agent.get("/account").await.status, 303);
    let page = clerk.agent.get(&format!("/staff/channels/{b}")).await;
    assert!(
        page.body.contains("進行中"),
        "revoke-all keeps the channel open"
    );

    clerk.agent.get(&format!("/staff/channels/{a}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{a}/archive"),
            &[("reason", "事業終了")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(ga.agent.get(&format!("/c/{a}")).await.status, 303);
    assert_eq!(app.agent().get(&pending).await.status, 404);
    let page = clerk.agent.get(&format!("/staff/channels/{a}")).await;
    assert!(page.body.contains("終了(アーカイブ済み)"));
    assert!(
        !page.body.contains("guests/new"),
        "no more issuing into an archived channel"
    );
    let actions = app.actions().await;
    assert!(actions.contains(&"channel.archive".to_string()));
    assert!(actions.contains(&"channel.revoke_all".to_string()));
    assert_eq!(
        app.scalar("select count(*) from account where kind = 'guest' and status = 'revoked'")
            .await,
        3
    );
}

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
async fn a_resident_without_email_gets_a_printed_sheet_and_signs_in_with_the_id_on_it() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民課", "m@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "地域防災", 60).await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let expires = app.date_in(30);
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{channel}/guests/new"),
            &[
                ("name", "住民 一郎"),
                ("organisation", "第三町内会"),
                ("kind", "resident"),
                ("email", ""),
                ("permission", "read"),
                ("expires_on", &expires),
                ("delivery", "print"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.main());
    assert!(p.body.contains("<svg"), "QR code on the sheet");
    assert!(
        p.body.contains("スマートフォンの カメラで"),
        "steps in plain Japanese"
    );
    assert!(
        p.body.contains("<body class=\"sheet\">"),
        "the print layout"
    );
    let link = p.text_of_id("invite-link").expect("link printed");
    let id = p.text_of_id("sign-in-name").expect("sign-in id printed");
    assert!(id.starts_with("r-"));
    assert_eq!(p.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(p.header("referrer-policy").as_deref(), Some("no-referrer"));
    let resident = app.enrol_guest(&link, "じゅうみんの あいことば").await;
    assert_eq!(resident.sign_in_name, id);
    app.guest_sign_in(&resident).await;
}

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
async fn d4_d5_expiry_and_scope_come_from_the_server_and_policy_limits_hold() {
    // SECURITY D4, D5
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let short = app.create_channel(&clerk.agent, "短い案件", 20).await;
    let long = app.create_channel(&clerk.agent, "長い案件", 400).await;
    clerk.agent.get(&format!("/staff/channels/{short}")).await;
    let mut base = vec![
        ("name", "期限 確認"),
        ("organisation", "病院"),
        ("kind", "hospital"),
        ("email", "limit@hospital.example.jp"),
        ("permission", "post"),
        ("delivery", "email"),
    ];
    let after_channel = app.date_in(25);
    base.push(("expires_on", &after_channel));
    let p = clerk
        .agent
        .post(&format!("/staff/channels/{short}/guests/new"), &base)
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("案件の終了日より後にはできません"));
    base.pop();
    let beyond_policy = app.date_in(91);
    base.push(("expires_on", &beyond_policy));
    let p = clerk
        .agent
        .post(&format!("/staff/channels/{long}/guests/new"), &base)
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("最長 90 日"));
    assert_eq!(
        app.scalar("select count(*) from guest").await,
        0,
        "nothing written"
    );
    // Form fields naming another channel, sponsor or status are ignored.
    base.pop();
    let ok = app.date_in(90);
    base.push(("expires_on", &ok));
    base.push(("channel_id", &short));
    base.push(("sponsor_id", "someone-else"));
    base.push(("status", "active"));
    let p = clerk
        .agent
        .post(&format!("/staff/channels/{long}/guests/new"), &base)
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let (channel, status, sponsor): (String, String, String) = sqlx::query_as(
        "select g.channel_id, a.status, s.email from guest g join account a on a.account_id = g.account_id \
         join account s on s.account_id = g.sponsor_id",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .expect("row");
    assert_eq!(
        (channel.as_str(), status.as_str(), sponsor.as_str()),
        (long.as_str(), "invited", "h@city.example.jp")
    );
    // Extending beyond the policy is refused too.
    let id = app.guest_id("limit@hospital.example.jp").await;
    clerk.agent.get(&format!("/staff/guests/{id}")).await;
    let far = app.date_in(120);
    let p = clerk
        .agent
        .post(
            &format!("/staff/guests/{id}/extend"),
            &[("expires_on", &far), ("reason", "長期")],
        )
        .await;
    assert_eq!(p.status, 422);
}

#[tokio::test]
async fn bulk_csv_with_one_bad_row_issues_nobody_and_says_which_row_and_why() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院チーム", 60).await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let csrf = clerk.agent.csrf();
    let upload = |csv: &'static str| app.upload_csv(&clerk.agent, &channel, csv, "post");
    let bad = "氏名,所属,メール\n医師 一,市立病院,one@hospital.example.jp\n医師 二,市立病院,not-an-address\n医師 三,市立病院,three@hospital.example.jp\n";
    let res = upload(bad).await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.expect("body");
    assert!(body.contains("誰も招待していません"));
    assert!(
        body.contains("2 行目: メールアドレス: メールアドレスの形式が正しくありません。"),
        "{body}"
    );
    assert_eq!(app.scalar("select count(*) from guest").await, 0);
    let before = app.mails().len();
    let good = "医師 一,市立病院,one@hospital.example.jp\n医師 二,\"市立病院, 救急\",two@hospital.example.jp\n";
    let res = upload(good).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.scalar("select count(*) from guest").await, 2);
    assert_eq!(app.mails().len(), before + 2);
    let org: String = sqlx::query_scalar("select organisation from guest g join account a on a.account_id = g.account_id where g.sign_in_name = 'two@hospital.example.jp'")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("org");
    assert_eq!(org, "市立病院, 救急");
    // Without the token in the body the upload is refused, even with the token in the URL,
    // where it would reach history and proxy logs (SECURITY E10).
    let res = clerk
        .agent
        .client
        .post(clerk.agent.url(&format!(
            "/staff/channels/{channel}/guests/bulk?csrf={csrf}"
        )))
        .multipart(reqwest::multipart::Form::new().text("kind", "hospital"))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 403);
    assert_eq!(app.scalar("select count(*) from guest").await, 2);
}

#[tokio::test]
async fn clerks_filter_sort_and_page_guest_lists_per_channel_and_department() {
    let app = spawn_app().await;
    let (admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "大人数", 60).await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let mut csv = String::new();
    for i in 0..55 {
        csv.push_str(&format!(
            "職員 {i:02},病院 {},p{i}@hospital.example.jp\n",
            i % 3
        ));
    }
    let res = app.upload_csv(&clerk.agent, &channel, csv, "read").await;
    assert_eq!(res.status(), 303);
    let p = clerk
        .agent
        .get(&format!("/staff/channels/{channel}?sort=name"))
        .await;
    assert!(p.body.contains("55 人"));
    assert!(p.body.contains("1 / 2 ページ"));
    assert!(p.body.contains("職員 00") && !p.body.contains("職員 54"));
    let p = clerk
        .agent
        .get(&format!("/staff/channels/{channel}?sort=name&page=1"))
        .await;
    assert!(p.body.contains("職員 54") && !p.body.contains("職員 00"));
    let p = clerk
        .agent
        .get("/staff/guests?q=%E7%97%85%E9%99%A2%201")
        .await;
    assert!(p.body.contains("18 人"), "search by organisation");
    let p = clerk.agent.get("/staff/guests?status=active").await;
    assert!(p.body.contains("0 人"));
    // Another department's clerk sees none of them.
    let other = app
        .clerk_in_new_department(&admin.agent, "税務課", "tax@city.example.jp")
        .await;
    let p = other.agent.get("/staff/guests").await;
    assert!(p.body.contains("0 人"));
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
            .contains(&app.date_in(10))
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
            .contains(&until)
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
    let (_, p) = app
        .guest_password_step(&guest.sign_in_name, &guest.password)
        .await;
    assert_eq!(p.status, 422);
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
async fn d6_a_read_guest_cannot_post_and_a_post_guest_can_and_bodies_stay_out_of_the_audit() {
    // SECURITY D6, E1, G3
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "書き込み", 60).await;
    let reader_link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "読む 人",
            "reader@example.jp",
            "read",
            10,
        )
        .await;
    let writer_link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "書く 人",
            "writer@example.jp",
            "post",
            10,
        )
        .await;
    let reader = app.enrol_guest(&reader_link, "読むだけの人の合言葉").await;
    let writer = app.enrol_guest(&writer_link, "書ける人の長い合言葉").await;

    let page = reader.agent.get(&format!("/c/{channel}")).await;
    assert!(page.body.contains("読むことだけができます"));
    assert!(!page.body.contains("/messages\""), "no form for a reader");
    // Even a hand-made post is refused by the server.
    let p = reader
        .agent
        .post(
            &format!("/c/{channel}/messages"),
            &[("body", "書けないはず")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(app.scalar("select count(*) from message").await, 0);
    let denied = app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "message.post")
        .expect("audited");
    assert_eq!(denied.outcome, "denied");

    let secret_body = "<script>alert('x')</script> 退院は金曜日の予定です";
    writer.agent.get(&format!("/c/{channel}")).await;
    let p = writer
        .agent
        .post(&format!("/c/{channel}/messages"), &[("body", secret_body)])
        .await;
    assert_eq!(p.status, 303);
    let p = writer
        .agent
        .post(&format!("/c/{channel}/messages"), &[("body", "   ")])
        .await;
    assert_eq!(p.status, 422);
    for page in [
        reader.agent.get(&format!("/c/{channel}")).await,
        clerk.agent.get(&format!("/staff/channels/{channel}")).await,
    ] {
        assert!(page.body.contains("退院は金曜日の予定です"));
        assert!(!page.body.contains("<script>alert"));
    }
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{channel}/messages"),
            &[("body", "承知しました")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(
        writer
            .agent
            .get(&format!("/c/{channel}"))
            .await
            .body
            .contains("承知しました")
    );
    let everything: String = app.audit().await.iter().map(|r| format!("{r:?}")).collect();
    assert!(
        !everything.contains("退院は金曜日"),
        "G3: no message body in the audit"
    );
    assert_eq!(
        app.audit()
            .await
            .iter()
            .filter(|r| r.action == "message.post" && r.outcome == "success")
            .count(),
        2
    );
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
async fn a_late_sweep_sends_only_the_reminder_due_now() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "遅い掃除", 60).await;
    app.invite_guest(
        &clerk.agent,
        &channel,
        "遅延 確認",
        "late@example.jp",
        "post",
        10,
    )
    .await;
    let id = app.guest_id("late@example.jp").await;
    let expires_at: i64 = sqlx::query_scalar("select expires_at from guest where account_id = $1")
        .bind(&id)
        .fetch_one(&app.state.db.pool)
        .await
        .expect("expiry");
    // The sweeper did not run during the 7-day window; twelve hours before expiry it does.
    app.clock.set(expires_at - 12 * 3600);
    let before = app.mails().len();
    assert_eq!(sweep(&app.state).await.expect("sweep").reminders, 1);
    assert_eq!(
        app.mails().len(),
        before + 2,
        "one mail to the guest, one to the sponsor"
    );
    assert_eq!(sweep(&app.state).await.expect("sweep").reminders, 0);
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
async fn the_clerk_home_lists_waiting_requests_and_guests_about_to_expire() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "ホーム", 60).await;
    let soon = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "まもなく 期限",
            "soon@example.jp",
            "post",
            5,
        )
        .await;
    app.invite_guest(
        &clerk.agent,
        &channel,
        "まだ 先",
        "later@example.jp",
        "post",
        30,
    )
    .await;
    let guest = app.enrol_guest(&soon, "まもなく期限の人の合言葉").await;
    guest.agent.get("/account").await;
    guest
        .agent
        .post("/account/extension", &[("message", "延長してください")])
        .await;
    let home = clerk.agent.get("/staff").await;
    let requests = &home.body[home.body.find("id=\"open-requests\"").expect("requests")..];
    assert!(requests.contains("まもなく 期限"));
    let expiring = &home.body[home.body.find("id=\"expiring\"").expect("expiring")..];
    assert!(expiring.contains("まもなく 期限"));
    assert!(!expiring.contains("まだ 先"));
}

#[tokio::test]
async fn review_fixes_hold_under_the_database_conditions() {
    // SECURITY B5, C5, A7: the conditions live in the SQL, not only in earlier checks.
    let app = spawn_app().await;
    let (_admin, clerk, _dept) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "条件", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "条件 確認",
            "cond@example.jp",
            "post",
            30,
        )
        .await;
    app.enrol_guest(&link, "条件を確かめる合言葉").await;
    let id = app.guest_id("cond@example.jp").await;
    let mut conn = app.state.db.pool.acquire().await.expect("conn");
    // A locked factor refuses even a right, fresh step.
    sqlx::query("update account set totp_locked_until = $1 where account_id = $2")
        .bind(app.now() + 60)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .expect("lock");
    let step = app.now() / 30 + 5;
    assert!(
        !madoguchi::accounts::store::accept_totp_step(&mut conn, &id, step, Some(app.now()))
            .await
            .expect("cas")
    );
    sqlx::query(
        "update account set totp_locked_until = 0, status = 'revoked' where account_id = $1",
    )
    .bind(&id)
    .execute(&mut *conn)
    .await
    .expect("revoke");
    assert!(
        !madoguchi::accounts::store::accept_totp_step(&mut conn, &id, step, Some(app.now()))
            .await
            .expect("cas")
    );
    // A reset cannot bring a revoked guest back.
    assert!(
        !madoguchi::guests::store::reset_credentials(&mut conn, &id)
            .await
            .expect("reset")
    );
    assert_eq!(app.status_of(&id).await, "revoked");
}

#[tokio::test]
async fn shortening_a_channel_shortens_its_guests_access() {
    // SECURITY D5
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "短縮", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "短縮 者",
            "short@example.jp",
            "post",
            50,
        )
        .await;
    let guest = app.enrol_guest(&link, "短縮される人の合言葉").await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let new_end = app.date_in(3);
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{channel}/edit"),
            &[
                ("name", "短縮"),
                ("purpose", "短くする"),
                ("ends_on", &new_end),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let account = guest.agent.get("/account").await;
    assert!(
        account
            .text_of_id("expires-on")
            .expect("expiry")
            .contains(&new_end)
    );
    let end = madoguchi::clock::end_of_day(&new_end).expect("date");
    app.clock.set(end - 60);
    let agent = app.guest_sign_in(&guest).await;
    app.clock.set(end);
    assert_eq!(
        agent.get("/account").await.status,
        303,
        "no access past the channel's end"
    );
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
async fn bulk_csv_naming_an_existing_address_is_refused_on_every_engine() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "既存", 60).await;
    app.invite_guest(
        &clerk.agent,
        &channel,
        "既存 者",
        "exists@example.jp",
        "post",
        30,
    )
    .await;
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let csv = "既存 者,病院,exists@example.jp\n新規 者,病院,new@example.jp\n";
    let res = app.upload_csv(&clerk.agent, &channel, csv, "post").await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.expect("body");
    assert!(
        body.contains("1 行目: このメールアドレスはすでに登録されています。"),
        "{body}"
    );
    assert_eq!(app.scalar("select count(*) from guest").await, 1);
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
