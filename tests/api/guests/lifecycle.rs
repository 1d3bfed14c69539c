//! The guest lifecycle with a moved clock: issue, enrol, remind, extend, expire, revoke
//! (SECURITY A5, C5, D4, D5).

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
            .starts_with("「在宅医療連携」窓口へのご招待 / Your invitation to Madoguchi"),
        "the subject names the project: {}",
        mail.subject
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
    assert!(page.body.contains(&app.long_date_in(20)), "{}", page.main());
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
    assert_eq!(p.status, 403, "an expired guest cannot sign in");
    assert!(
        p.main().contains("利用できる期間が終わった"),
        "and is told why: {}",
        p.main()
    );
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
            .post(
                &format!("/staff/guests/{id}/revoke"),
                &[("reason", ""), ("confirm", "yes")],
            )
            .await;
        assert_eq!(p.status, 422, "a reason is required");
        assert!(p.body.contains("入力してください"));
        let p = clerk
            .agent
            .post(
                &format!("/staff/guests/{id}/revoke"),
                &[("reason", "異動のため"), ("confirm", "yes")],
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
