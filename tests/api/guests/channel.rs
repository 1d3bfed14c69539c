//! What channel-wide actions do to guests, and who may post (SECURITY C5, D5, D6).

use crate::helpers::*;

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
            &[("reason", "年度末"), ("confirm", "yes")],
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
            &[("reason", "事業終了"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(ga.agent.get(&format!("/c/{a}")).await.status, 303);
    assert_eq!(app.agent().get(&pending).await.status, 404);
    let page = clerk.agent.get(&format!("/staff/channels/{a}")).await;
    assert!(page.body.contains("終了（アーカイブ済み）"));
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
            .contains(&app.long_date_in(3))
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
async fn the_conversation_shows_the_newest_fifty_with_earlier_messages_a_link_away() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民協働課", "kyodo@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "地域連絡", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "地域 担当",
            "chiiki@npo.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "地域担当の長い合言葉です").await;
    let page = format!("/staff/channels/{channel}");
    clerk.agent.get(&page).await;
    for i in 1..=60 {
        let p = clerk
            .agent
            .post(
                &format!("{page}/messages"),
                &[("body", &format!("連絡その{i:02}"))],
            )
            .await;
        assert_eq!(p.status, 303);
        app.clock.advance(1);
    }
    let agent = app.guest_sign_in(&guest).await;
    let newest = agent.get(&format!("/c/{channel}")).await;
    let main = newest.main();
    assert!(
        main.contains("連絡その60") && main.contains("連絡その11"),
        "{main}"
    );
    assert!(!main.contains("連絡その10"), "more than fifty shown");
    let older = html_unescape(
        main.split("href=\"")
            .find(|s| s.contains("?before="))
            .and_then(|s| s.split('"').next())
            .expect("a link to earlier messages"),
    );
    let earlier = agent.get(&older).await;
    let main = earlier.main();
    assert!(
        main.contains("連絡その01") && main.contains("連絡その10"),
        "{main}"
    );
    assert!(!main.contains("連絡その11"), "{main}");
    assert!(main.contains("最新のやり取りへ"), "{main}");
}
