//! The channel as a conversation: who wrote what, set apart and named in words, by day (issue
//! 9), and the My Number guard on what is posted (SECURITY I1–I3).

use crate::helpers::*;

struct Channel {
    app: TestApp,
    admin: Person,
    department: String,
    clerk: Person,
    guest: GuestPerson,
    id: String,
}

async fn channel_with_guest() -> Channel {
    let app = spawn_app().await;
    // Twenty minutes before midnight in Japan, so a conversation can cross into the next day.
    let jst = 9 * 3600;
    let midnight = ((app.now() + jst).div_euclid(86_400) + 1) * 86_400 - jst;
    app.clock.set(midnight - 20 * 60);
    let (admin, clerk, department) = app
        .clerk_with_department("防災危機管理課", "bousai@city.example.jp")
        .await;
    let id = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &id,
            "佐藤 看護師",
            "sato@hospital.example.jp",
            "post",
            30,
        )
        .await;
    let guest = app.enrol_guest(&link, "佐藤看護師の長い合言葉").await;
    Channel {
        app,
        admin,
        department,
        clerk,
        guest,
        id,
    }
}

/// The `<li class="message ...">` items of a page, as text.
fn messages_of(page: &Page) -> Vec<String> {
    page.body
        .split("<li class=\"message")
        .skip(1)
        .map(|m| m.split("</li>").next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn the_conversation_sets_apart_your_own_posts_names_every_author_and_separates_days() {
    let c = channel_with_guest().await;
    let guest_page = format!("/c/{}", c.id);
    let staff_page = format!("/staff/channels/{}", c.id);
    c.guest.agent.get(&guest_page).await;
    let p = c
        .guest
        .agent
        .post(
            &format!("{guest_page}/messages"),
            &[("body", "訪問の予定を共有します")],
        )
        .await;
    assert_eq!(p.status, 303);
    c.app.clock.advance(60);
    c.clerk.agent.get(&staff_page).await;
    let p = c
        .clerk
        .agent
        .post(
            &format!("{staff_page}/messages"),
            &[("body", "承知しました")],
        )
        .await;
    assert_eq!(p.status, 303);
    // Past midnight (JST), within the sessions' idle time.
    c.app.clock.advance(25 * 60);
    let p = c
        .guest
        .agent
        .post(
            &format!("{guest_page}/messages"),
            &[("body", "翌日の報告です")],
        )
        .await;
    assert_eq!(p.status, 303);

    // The guest's view: their own posts are theirs, the clerk is named with city and 課.
    let page = c.guest.agent.get(&guest_page).await;
    let items = messages_of(&page);
    assert_eq!(items.len(), 3, "{}", page.main());
    assert!(items[0].starts_with(" mine"), "{}", items[0]);
    assert!(items[0].contains("あなた") && items[0].contains("訪問の予定を共有します"));
    assert!(items[1].contains("担当 職員"), "{}", items[1]);
    assert!(
        items[1].contains("職員・市役所 防災危機管理課"),
        "{}",
        items[1]
    );
    assert!(!items[1].contains("あなた"));
    assert!(items[2].starts_with(" mine"));
    // Two days, each with its weekday, and times in Japan Standard Time.
    let days: Vec<&str> = page
        .body
        .split("<li class=\"day\">")
        .skip(1)
        .map(|d| d.split("</li>").next().unwrap_or_default())
        .collect();
    assert_eq!(days.len(), 2, "{}", page.main());
    for day in &days {
        let label = html_unescape(day);
        assert!(
            [
                "（月）",
                "（火）",
                "（水）",
                "（木）",
                "（金）",
                "（土）",
                "（日）"
            ]
            .iter()
            .any(|w| label.contains(w))
                && label.contains('月')
                && label.contains('日'),
            "{label}"
        );
    }
    assert!(page.body.contains("+09:00\">"));
    // The channel's facts are folded away above the conversation.
    let facts = page
        .body
        .find("<details class=\"channel-facts\">")
        .expect("facts");
    assert!(facts < page.body.find("id=\"messages\"").expect("messages"));

    // The clerk's view: the guest named with their organisation, the clerk's own post theirs.
    let page = c.clerk.agent.get(&staff_page).await;
    let items = messages_of(&page);
    assert_eq!(items.len(), 3);
    assert!(items[0].contains("佐藤 看護師") && items[0].contains("市立病院"));
    assert!(!items[0].starts_with(" mine"));
    assert!(items[1].starts_with(" mine") && items[1].contains("あなた"));
}

#[tokio::test]
async fn i1_a_message_with_a_probable_my_number_is_refused_explained_kept_and_audited_masked() {
    // SECURITY I1, I3
    let c = channel_with_guest().await;
    let guest_page = format!("/c/{}", c.id);
    let staff_page = format!("/staff/channels/{}", c.id);
    c.guest.agent.get(&guest_page).await;
    let text = "私の番号は１２３４－５６７８－９０１８です。確認をお願いします。";
    let p = c
        .guest
        .agent
        .post(&format!("{guest_page}/messages"), &[("body", text)])
        .await;
    assert_eq!(p.status, 422);
    let main = html_unescape(&p.main());
    assert!(main.contains("マイナンバー"), "{main}");
    assert!(main.contains("********9018"), "{main}");
    assert!(main.contains(text), "the text is kept for correcting");
    c.clerk.agent.get(&staff_page).await;
    let p = c
        .clerk
        .agent
        .post(
            &format!("{staff_page}/messages"),
            &[("body", "番号 1234 5678 9018 で登録します")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(html_unescape(&p.main()).contains("********9018"));
    assert_eq!(c.app.scalar("select count(*) from message").await, 0);
    // The attempts are in the trail, the number masked; no record holds it whole.
    let refused: Vec<_> = c
        .app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "message.post" && r.outcome == "denied")
        .collect();
    assert_eq!(refused.len(), 2);
    for r in &refused {
        let detail = r.detail.as_deref().unwrap_or_default();
        assert!(detail.contains("********9018"), "{detail}");
    }
    for r in c.app.audit().await {
        let detail = r.detail.unwrap_or_default();
        assert!(!detail.contains("5678"), "{detail}");
    }

    // A 13-digit corporate number (its own check digit valid) and a twelve-digit run with a
    // wrong check digit pass (I3).
    for body in ["法人番号 1123456789018 の件", "受付番号 123456789019"] {
        let p = c
            .guest
            .agent
            .post(&format!("{guest_page}/messages"), &[("body", body)])
            .await;
        assert_eq!(p.status, 303, "{body}");
    }
    assert_eq!(c.app.scalar("select count(*) from message").await, 2);
}

#[tokio::test]
async fn a_conversation_drawn_once_for_a_channel_still_shows_each_reader_their_own_view() {
    let c = channel_with_guest().await;
    let guest_page = format!("/c/{}", c.id);
    let staff_page = format!("/staff/channels/{}", c.id);
    let link = c
        .app
        .invite_guest(
            &c.clerk.agent,
            &c.id,
            "田中 教諭",
            "tanaka@school.example.jp",
            "post",
            30,
        )
        .await;
    let tanaka = c.app.enrol_guest(&link, "田中教諭の長い合言葉です").await;
    for (agent, body) in [
        (&c.guest.agent, "佐藤から訪問の予定です"),
        (&tanaka.agent, "田中から下校の時刻です"),
    ] {
        agent.get(&guest_page).await;
        let p = agent
            .post(&format!("{guest_page}/messages"), &[("body", body)])
            .await;
        assert_eq!(p.status, 303);
    }

    // Each guest, in turn and again, sees their own post as theirs and the other's by name:
    // the drawing one of them left for the channel never shows the other as "you".
    for _ in 0..2 {
        for (agent, mine, theirs, name) in [
            (&c.guest.agent, 0, 1, "田中 教諭"),
            (&tanaka.agent, 1, 0, "佐藤 看護師"),
        ] {
            let page = agent.get(&guest_page).await;
            let items = messages_of(&page);
            assert_eq!(items.len(), 2, "{}", page.main());
            assert!(items[mine].starts_with(" mine"), "{}", items[mine]);
            assert!(items[mine].contains("あなた"), "{}", items[mine]);
            assert!(!items[theirs].starts_with(" mine"), "{}", items[theirs]);
            assert!(items[theirs].contains(name), "{}", items[theirs]);
            assert!(!items[theirs].contains("あなた"), "{}", items[theirs]);
            assert!(items[theirs].contains(&format!("href=\"{guest_page}/messages/")));
        }
    }

    // The same conversation in English for one reader, in Japanese still for the other.
    let p = tanaka
        .agent
        .post("/lang", &[("lang", "en"), ("back", &guest_page)])
        .await;
    assert_eq!(p.status, 303);
    let items = messages_of(&tanaka.agent.get(&guest_page).await);
    assert!(items[1].contains(">You<"), "{}", items[1]);
    assert!(items[0].contains("佐藤 看護師") && !items[0].contains("あなた"));
    assert!(
        items[0].contains("Read by") && !items[0].contains("既読"),
        "{}",
        items[0]
    );
    let items = messages_of(&c.guest.agent.get(&guest_page).await);
    assert!(items[0].contains("あなた") && !items[0].contains(">You<"));
    assert!(items[1].contains("既読") && !items[1].contains("Read by"));

    // The clerk's view of the same messages links to the staff's pages, and names both guests.
    let page = c.clerk.agent.get(&staff_page).await;
    let items = messages_of(&page);
    assert_eq!(items.len(), 2);
    for (item, name) in items.iter().zip(["佐藤 看護師", "田中 教諭"]) {
        assert!(item.contains(name) && !item.starts_with(" mine"), "{item}");
        assert!(
            item.contains(&format!("href=\"{staff_page}/messages/")),
            "{item}"
        );
        assert!(!item.contains(&format!("href=\"{guest_page}/")), "{item}");
    }

    // A 既読 changes the drawing: Sato sees that both others have now read Tanaka's post.
    let items = messages_of(&c.guest.agent.get(&guest_page).await);
    assert!(items[1].contains("既読 2"), "{}", items[1]);
}

#[tokio::test]
async fn c9_what_is_kept_for_every_reader_carries_no_other_readers_token_or_name() {
    // SECURITY C9
    let c = channel_with_guest().await;
    // A second clerk of the same department, and a second guest of the channel.
    let link = c
        .app
        .add_clerk(
            &c.admin.agent,
            "kansatsu@city.example.jp",
            "観察 花子",
            &c.department,
        )
        .await;
    let watcher = c
        .app
        .enrol(
            &link,
            None,
            "kansatsu@city.example.jp",
            "観察係のとても長い合言葉です",
        )
        .await;
    let link = c
        .app
        .invite_guest(
            &c.clerk.agent,
            &c.id,
            "田中 相談員",
            "tanaka@hospital.example.jp",
            "post",
            30,
        )
        .await;
    let second = c.app.enrol_guest(&link, "田中相談員の長い合言葉").await;
    // Something to keep: messages, one asking for acknowledgement, and the guest list.
    let staff_page = format!("/staff/channels/{}", c.id);
    let guest_page = format!("/c/{}", c.id);
    c.clerk.agent.get(&staff_page).await;
    for (body, ack) in [
        ("訪問日程のお知らせ", false),
        ("書類を確認してください", true),
    ] {
        let mut fields = vec![("body", body)];
        if ack {
            fields.push(("ack", "1"));
        }
        let p = c
            .clerk
            .agent
            .post(&format!("{staff_page}/messages"), &fields)
            .await;
        assert_eq!(p.status, 303);
    }
    c.guest.agent.get(&guest_page).await;
    let p = c
        .guest
        .agent
        .post(
            &format!("{guest_page}/messages"),
            &[("body", "承知しました")],
        )
        .await;
    assert_eq!(p.status, 303);

    // The watching clerk and the second guest read first: what they are shown is kept.
    let first_staff = watcher.agent.get(&staff_page).await;
    assert_eq!(first_staff.status, 200);
    let watcher_token = watcher.agent.csrf();
    let first_guest = second.agent.get(&guest_page).await;
    assert_eq!(first_guest.status, 200);
    let second_token = second.agent.csrf();
    assert!(!watcher_token.is_empty() && !second_token.is_empty());
    assert!(first_staff.body.contains(&watcher_token));

    // The others read the same kept conversation and list, and see nothing of the first readers.
    let staff = c.clerk.agent.get(&staff_page).await;
    assert_eq!(staff.status, 200);
    assert!(staff.body.contains(&c.clerk.agent.csrf()));
    assert!(
        !staff.body.contains(&watcher_token),
        "another clerk's token"
    );
    assert!(!staff.body.contains("観察 花子"), "another clerk's name");
    let guest = c.guest.agent.get(&guest_page).await;
    assert_eq!(guest.status, 200);
    assert!(guest.body.contains(&c.guest.agent.csrf()));
    assert!(!guest.body.contains(&second_token), "another guest's token");
    assert!(!guest.body.contains(&watcher_token));
    assert!(!guest.body.contains("田中 相談員"), "another guest's name");
    // Both conversations show the same messages.
    assert_eq!(messages_of(&staff).len(), messages_of(&first_staff).len());
    assert_eq!(messages_of(&guest).len(), messages_of(&first_guest).len());
}
