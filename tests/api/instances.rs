//! Two instances of the portal on one database, as behind a city's load balancer: one
//! unforked audit chain, one set of sessions, one allowance of sign-in attempts, and the
//! sweeper's expiries and reminders done exactly once.

use madoguchi::audit::{self, Verdict};
use madoguchi::guests::sweep::sweep;

use crate::helpers::*;

/// A second instance on the first one's database and clock, with the same keys, as a city
/// deploys them (the keys come from configuration or a shared data directory).
async fn second_instance(first: &TestApp) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    for key in ["session.key", "totp.key", "audit-signing.key"] {
        std::fs::copy(first.dir.path().join(key), dir.path().join(key)).expect("copy key");
    }
    spawn_app_with(Options {
        dir: Some(dir),
        database_url: Some(first.database_url.clone()),
        clock: Some(first.clock.clone()),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn two_instances_share_one_chain_sessions_limits_and_sweeps() {
    let a = spawn_app().await;
    let (_admin, clerk, _) = a
        .clerk_with_department("防災危機管理課", "bousai@city.example.jp")
        .await;
    // The second instance starts once the city is set up (a fresh database offers its first
    // administrator's link from whichever instance starts first).
    let b = second_instance(&a).await;
    let channel = a.create_channel(&clerk.agent, "避難所 連絡", 60).await;
    let page = format!("/c/{channel}");
    let mut guests = vec![];
    for (name, email) in [
        ("避難所 担当", "shelter@school.example.jp"),
        ("病院 連絡係", "ward@hospital.example.jp"),
    ] {
        let link = a
            .invite_guest(&clerk.agent, &channel, name, email, "post", 10)
            .await;
        guests.push(a.enrol_guest(&link, "避難所担当の長い合言葉").await);
    }

    // Sessions: signed in through one instance, the same browser is known on the other.
    let on_a = a.guest_sign_in(&guests[0]).await;
    let on_b = on_a.at(&b.base);
    let p = on_b.get(&page).await;
    assert_eq!(p.status, 200, "{}", p.main());
    assert!(p.main().contains("避難所 連絡"));

    // One chain: page views and posts through both instances at once.
    let mut load = vec![];
    for i in 0..16 {
        let agent = if i % 2 == 0 { &on_a } else { &on_b };
        let page = &page;
        load.push(async move {
            if i % 4 == 1 {
                let body = format!("報告 {i}");
                agent
                    .post(&format!("{page}/messages"), &[("body", body.as_str())])
                    .await
                    .status
            } else {
                agent.get(page).await.status
            }
        });
    }
    let statuses = futures::future::join_all(load).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 303),
        "{statuses:?}"
    );
    let records = a.scalar("select count(*) from audit_event").await;
    assert_eq!(
        audit::verify(&b.state.db).await.expect("verify"),
        Verdict::Intact { records }
    );
    assert_eq!(
        a.scalar("select count(distinct seq) from audit_event")
            .await,
        records
    );

    // Signing out through one instance ends the session on the other at the next request.
    let p = on_b.post("/signout", &[]).await;
    assert_eq!(p.status, 303);
    let p = on_a.get(&page).await;
    assert_eq!(p.status, 303);
    assert!(p.location().is_some_and(|l| l.starts_with("/signin")));

    // Limits: one address gets one allowance of link openings a minute, whichever instance
    // answers (a guesser cannot double it by being balanced onto both).
    let stranger = Agent::from_address(&a.base, Some([127, 0, 0, 9].into()));
    let mut statuses = vec![];
    for i in 0..31 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let p = stranger.at(base).get(&format!("/setup/guess{i}")).await;
        statuses.push(p.status);
    }
    assert!(statuses[..30].iter().all(|s| *s != 429), "{statuses:?}");
    assert_eq!(
        statuses[30], 429,
        "the 31st opening in the minute is refused"
    );

    // The sweeper runs on both instances at once: each reminder and each expiry happens once.
    let expires_at: i64 = a.scalar("select max(expires_at) from guest").await;
    a.clock.set(expires_at - 7 * 86_400 + 60);
    let mails_before = a.mails().len() + b.mails().len();
    let (ra, rb) = tokio::join!(sweep(&a.state), sweep(&b.state));
    let (ra, rb) = (ra.expect("sweep a"), rb.expect("sweep b"));
    assert_eq!(ra.reminders + rb.reminders, 2, "one reminder per guest");
    // Each reminder goes to the guest and to the sponsoring clerk.
    assert_eq!(a.mails().len() + b.mails().len(), mails_before + 4);
    assert_eq!(
        a.scalar("select count(*) from audit_event where action = 'guest.reminder'")
            .await,
        2
    );
    a.clock.set(expires_at + 60);
    let (ra, rb) = tokio::join!(sweep(&a.state), sweep(&b.state));
    let (ra, rb) = (ra.expect("sweep a"), rb.expect("sweep b"));
    assert_eq!(ra.expired + rb.expired, 2, "each guest expires once");
    assert_eq!(
        a.scalar("select count(*) from audit_event where action = 'guest.expired'")
            .await,
        2
    );
    assert!(matches!(
        audit::verify(&a.state.db).await.expect("verify"),
        Verdict::Intact { .. }
    ));
}

/// Each instance keeps channels' recent conversations in memory; a kept copy never outlives a
/// change made through the other instance or straight in the database.
#[tokio::test]
async fn a_conversation_kept_by_one_instance_shows_every_change_made_elsewhere_at_the_next_view() {
    let a = spawn_app().await;
    let (_admin, clerk, _) = a
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let b = second_instance(&a).await;
    let channel = a.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let page = format!("/c/{channel}");
    let staff_page = format!("/staff/channels/{channel}");
    let mut guests = vec![];
    for (name, email) in [
        ("佐藤 看護師", "sato@hospital.example.jp"),
        ("田中 相談員", "tanaka@hospital.example.jp"),
    ] {
        let link = a
            .invite_guest(&clerk.agent, &channel, name, email, "post", 30)
            .await;
        guests.push(a.enrol_guest(&link, "病院職員の長い合言葉です").await);
    }
    let nurse_on_a = a.guest_sign_in(&guests[0]).await;
    let counsellor_on_b = a.guest_sign_in(&guests[1]).await.at(&b.base);
    let clerk_on_b = clerk.agent.at(&b.base);
    let due = a.date_in(3);
    clerk.agent.get(&staff_page).await;
    let p = clerk
        .agent
        .post(
            &format!("{staff_page}/messages"),
            &[
                ("body", "訪問予定を確認してください"),
                ("ack", "1"),
                ("due", due.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let m: String = sqlx::query_scalar("select message_id from message")
        .fetch_one(&a.state.db.pool)
        .await
        .expect("message");

    // The nurse's view on A keeps the page; the counsellor reads and acknowledges on B.
    let p = nurse_on_a.get(&page).await;
    assert!(p.main().contains("既読 0") && p.main().contains("確認 0"));
    counsellor_on_b.get(&page).await;
    // Both have now read it (the nurse's first view marked it).
    let p = nurse_on_a.get(&page).await;
    assert!(p.main().contains("既読 2"), "{}", p.main());
    let ack = counsellor_on_b
        .post(&format!("{page}/messages/{m}/ack"), &[])
        .await;
    assert_eq!(ack.status, 303);
    let p = nurse_on_a.get(&page).await;
    assert!(p.main().contains("確認 1"), "{}", p.main());
    // Whether the reader acknowledged is theirs alone, though the page is shared.
    assert!(p.main().contains("確認しました") && !p.main().contains("確認済みです"));
    let p = counsellor_on_b.at(&a.base).get(&page).await;
    assert!(p.main().contains("確認済みです"), "{}", p.main());

    // A post and a correction through B.
    clerk_on_b.get(&staff_page).await;
    let p = clerk_on_b
        .post(
            &format!("{staff_page}/messages"),
            &[("body", "追加の連絡です")],
        )
        .await;
    assert_eq!(p.status, 303);
    let p = nurse_on_a.get(&page).await;
    assert!(p.main().contains("追加の連絡です"), "{}", p.main());
    let mine = counsellor_on_b
        .post(
            &format!("{page}/messages"),
            &[("body", "明日10時に伺います")],
        )
        .await;
    assert_eq!(mine.status, 303);
    let posted: String =
        sqlx::query_scalar("select message_id from message order by seq desc limit 1")
            .fetch_one(&a.state.db.pool)
            .await
            .expect("posted");
    assert!(
        nurse_on_a
            .get(&page)
            .await
            .main()
            .contains("明日10時に伺います")
    );
    let edited = counsellor_on_b
        .post(
            &format!("{page}/messages/{posted}/edit"),
            &[("body", "明日11時に伺います")],
        )
        .await;
    assert_eq!(edited.status, 303);
    let p = nurse_on_a.get(&page).await;
    assert!(p.main().contains("明日11時に伺います") && !p.main().contains("10時"));

    // A change made in the database by hand (a clerk renamed by an administrator's tool).
    sqlx::query(
        "update account set name = '鈴木 課長' where kind = 'clerk' and name <> '鈴木 課長'",
    )
    .execute(&a.state.db.pool)
    .await
    .expect("rename");
    let p = nurse_on_a.get(&page).await;
    assert!(p.main().contains("鈴木 課長"), "{}", p.main());
}

/// Two instances, a clerk of 地域医療課 signed in through the first, and their channel with one
/// invited guest, 佐藤 (sato@hospital.example.jp).
async fn a_channel_with_a_guest_on_two_instances() -> (TestApp, TestApp, Person, String) {
    let a = spawn_app().await;
    let (_admin, clerk, _) = a
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let b = second_instance(&a).await;
    let channel = a.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    a.invite_guest(
        &clerk.agent,
        &channel,
        "佐藤 看護師",
        "sato@hospital.example.jp",
        "post",
        30,
    )
    .await;
    (a, b, clerk, channel)
}

/// Each instance keeps the clerks' guest lists in memory; a kept list never outlives a change
/// made through the other instance.
#[tokio::test]
async fn a_guest_list_kept_by_one_instance_shows_a_revocation_made_through_the_other() {
    let (a, b, clerk, channel) = a_channel_with_a_guest_on_two_instances().await;
    let sato = a.guest_id("sato@hospital.example.jp").await;
    let lists = [format!("/staff/channels/{channel}"), "/staff/guests".into()];
    // 佐藤's row in a list, as the clerk sees it now.
    let row = |body: String| {
        let link = body
            .find(&format!("/staff/guests/{sato}\""))
            .expect("佐藤 listed");
        let start = body[..link].rfind("<tr>").expect("row start");
        let end = link + body[link..].find("</tr>").expect("row end");
        body[start..end].to_string()
    };
    for list in &lists {
        let r = row(clerk.agent.get(list).await.body);
        assert!(r.contains("招待済み") && !r.contains("利用停止"), "{r}");
    }

    let clerk_on_b = clerk.agent.at(&b.base);
    clerk_on_b.get(&format!("/staff/guests/{sato}")).await;
    let p = clerk_on_b
        .post(
            &format!("/staff/guests/{sato}/revoke"),
            &[("reason", "退職のため"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    for list in &lists {
        let r = row(clerk.agent.get(list).await.body);
        assert!(
            r.contains("利用停止") && !r.contains("招待済み"),
            "{list}: {r}"
        );
    }
}

/// Each instance keeps signed-in sessions in memory; a change to a session made through the
/// other instance is read at the next request, and signing out through it ends the kept one.
#[tokio::test]
async fn a_session_kept_by_one_instance_shows_a_change_made_through_the_other() {
    let (_a, b, clerk, channel) = a_channel_with_a_guest_on_two_instances().await;
    let page = format!("/staff/channels/{channel}");
    let clerk_on_b = clerk.agent.at(&b.base);
    // B reads the session, then serves it from memory.
    for _ in 0..3 {
        let p = clerk_on_b.get(&page).await;
        assert_eq!(p.status, 200, "{}", p.main());
        assert!(!p.main().contains("利用停止にしました"));
    }

    // Through A the clerk stops every guest; A leaves the notice in the session and the
    // browser, balanced onto B, follows the redirect there.
    let p = clerk
        .agent
        .post(
            &format!("{page}/revoke-all"),
            &[("reason", "事業終了のため"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let p = clerk_on_b.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(
        p.main()
            .contains("この案件のゲスト 1 人を利用停止にしました。"),
        "{}",
        p.main()
    );
    // The notice was taken on B: neither instance shows it again.
    assert!(
        !clerk_on_b
            .get(&page)
            .await
            .main()
            .contains("利用停止にしました")
    );
    assert!(
        !clerk
            .agent
            .get(&page)
            .await
            .main()
            .contains("利用停止にしました")
    );

    // Signing out through A ends the session B keeps, at B's next request.
    clerk_on_b.get(&page).await;
    let p = clerk.agent.post("/staff/signout", &[]).await;
    assert_eq!(p.status, 303);
    let p = clerk_on_b.get(&page).await;
    assert_eq!(p.status, 303);
    assert!(p.location().is_some_and(|l| l.starts_with("/staff/signin")));
}
