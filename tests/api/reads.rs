//! 既読 with names, 確認依頼 and corrections (issue 9): what members see of each other's
//! reading, acknowledging and changing, on both engines.

use crate::helpers::*;

struct Channel {
    app: TestApp,
    clerk: Person,
    nurse: GuestPerson,
    teacher: GuestPerson,
    id: String,
}

async fn channel() -> Channel {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let id = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let mut guests = vec![];
    for (name, email) in [
        ("佐藤 看護師", "sato@hospital.example.jp"),
        ("田中 相談員", "tanaka@hospital.example.jp"),
    ] {
        let link = app
            .invite_guest(&clerk.agent, &id, name, email, "post", 30)
            .await;
        guests.push(app.enrol_guest(&link, "病院職員の長い合言葉です").await);
    }
    let teacher = guests.pop().expect("second");
    let nurse = guests.pop().expect("first");
    Channel {
        app,
        clerk,
        nurse,
        teacher,
        id,
    }
}

impl Channel {
    /// How many members other than its author have read message `m`: those whose read mark is at
    /// or past it.
    async fn readers_of(&self, m: &str) -> i64 {
        sqlx::query_scalar(
            "select count(distinct r.account_id) from channel_read r join message m \
             on m.channel_id = r.channel_id and r.last_seq >= m.seq \
             where m.message_id = $1 and r.account_id <> m.author_id",
        )
        .bind(m)
        .fetch_one(&self.app.state.db.pool)
        .await
        .expect("readers")
    }

    /// A guest of another channel of the same clerk.
    async fn guest_of_another_channel(&self) -> GuestPerson {
        let other = self
            .app
            .create_channel(&self.clerk.agent, "別の案件", 60)
            .await;
        let link = self
            .app
            .invite_guest(
                &self.clerk.agent,
                &other,
                "別 ゲスト",
                "other@example.jp",
                "post",
                30,
            )
            .await;
        self.app.enrol_guest(&link, "別のゲストの長い合言葉").await
    }

    fn guest_page(&self) -> String {
        format!("/c/{}", self.id)
    }
    fn staff_page(&self) -> String {
        format!("/staff/channels/{}", self.id)
    }
    async fn clerk_posts(&self, body: &str, ack: Option<&str>) -> String {
        self.clerk.agent.get(&self.staff_page()).await;
        let mut fields = vec![("body", body)];
        if let Some(due) = ack {
            fields.push(("ack", "1"));
            fields.push(("due", due));
        }
        let p = self
            .clerk
            .agent
            .post(&format!("{}/messages", self.staff_page()), &fields)
            .await;
        assert_eq!(p.status, 303, "{}", p.main());
        sqlx::query_scalar("select message_id from message order by seq desc limit 1")
            .fetch_one(&self.app.state.db.pool)
            .await
            .expect("message")
    }
}

/// The text of the list with this id on a page.
fn list(page: &Page, id: &str) -> String {
    let start = page
        .body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no list {id}"));
    let rest = &page.body[start..];
    html_unescape(&rest[..rest.find("</ul>").unwrap_or(rest.len())])
}

#[tokio::test]
async fn opening_the_channel_marks_what_was_seen_and_both_sides_see_who_read_it_and_when() {
    let c = channel().await;
    let m = c
        .clerk_posts("来週の訪問予定を確認してください", None)
        .await;
    let detail_staff = format!("{}/messages/{m}", c.staff_page());
    let detail_guest = format!("{}/messages/{m}", c.guest_page());

    let p = c.clerk.agent.get(&c.staff_page()).await;
    assert!(p.main().contains("既読 0"), "{}", p.main());
    // The nurse opens the channel.
    c.nurse.agent.get(&c.guest_page()).await;
    let p = c.clerk.agent.get(&c.staff_page()).await;
    assert!(p.main().contains("既読 1"));
    let p = c.clerk.agent.get(&detail_staff).await;
    assert_eq!(p.status, 200);
    let read = list(&p, "read");
    assert!(read.contains("佐藤 看護師（市立病院）"), "{read}");
    assert!(read.contains("<time datetime="), "{read}");
    let unread = list(&p, "unread");
    assert!(
        unread.contains("田中 相談員（市立病院）") && !unread.contains("佐藤"),
        "{unread}"
    );

    // The other guest reads out of order and from a second device: an older page first (which
    // marks nothing), then the newest on two devices at once.
    c.teacher
        .agent
        .get(&format!("{}?before={m}", c.guest_page()))
        .await;
    assert_eq!(c.readers_of(&m).await, 1);
    let second = c.app.guest_sign_in(&c.teacher).await;
    let page = c.guest_page();
    let (a, b) = tokio::join!(c.teacher.agent.get(&page), second.get(&page));
    assert_eq!((a.status, b.status), (200, 200));
    c.nurse.agent.get(&c.guest_page()).await;
    assert_eq!(c.readers_of(&m).await, 2);
    // Guests see the same list, with names.
    let p = c.nurse.agent.get(&detail_guest).await;
    assert_eq!(p.status, 200);
    let read = list(&p, "read");
    assert!(
        read.contains("佐藤 看護師") && read.contains("田中 相談員"),
        "{read}"
    );
    // Everyone it is for has read it (the author, the only clerk, is not on the lists).
    assert!(
        !list(&p, "unread").contains("<li>"),
        "{}",
        list(&p, "unread")
    );
    let p = c.clerk.agent.get(&c.staff_page()).await;
    assert!(p.main().contains("既読 2"));

    // A newer message: the nurse's next visit shows where "new" starts.
    c.clerk_posts("追加の連絡です", None).await;
    let p = c.nurse.agent.get(&c.guest_page()).await;
    let main = p.main();
    let new_at = main.find("id=\"new\"").expect("new marker");
    assert!(new_at < main.find("追加の連絡です").expect("new message"));
    assert!(new_at > main.find("来週の訪問予定").expect("old message"));

    // A guest's post is unread for the clerk on the home page and the channel list.
    c.teacher.agent.get(&c.guest_page()).await;
    c.teacher
        .agent
        .post(
            &format!("{}/messages", c.guest_page()),
            &[("body", "受け取りました")],
        )
        .await;
    for page in ["/staff", "/staff/channels"] {
        let p = c.clerk.agent.get(page).await;
        assert!(p.main().contains("未読 1件"), "{page}: {}", p.main());
    }
    c.clerk.agent.get(&c.staff_page()).await;
    assert!(
        !c.clerk
            .agent
            .get("/staff")
            .await
            .main()
            .contains("未読 1件")
    );
}

#[tokio::test]
async fn a_clerk_asks_for_acknowledgement_members_acknowledge_once_and_the_rest_are_reminded() {
    let c = channel().await;
    let due = c.app.date_in(3);
    let m = c
        .clerk_posts("防災訓練の日程(12月10日)を確認してください", Some(&due))
        .await;
    let page = c.nurse.agent.get(&c.guest_page()).await;
    assert!(page.main().contains("確認依頼"));
    assert!(page.main().contains("確認しました"));
    // Acknowledged from two devices: one acknowledgement.
    let second = c.app.guest_sign_in(&c.nurse).await;
    second.get(&c.guest_page()).await;
    let ack = format!("{}/messages/{m}/ack", c.guest_page());
    let (a, b) = tokio::join!(c.nurse.agent.post(&ack, &[]), second.post(&ack, &[]));
    assert_eq!((a.status, b.status), (303, 303));
    assert_eq!(c.app.scalar("select count(*) from message_ack").await, 1);
    let page = c.nurse.agent.get(&c.guest_page()).await;
    assert!(page.main().contains("確認済みです"));

    let detail = format!("{}/messages/{m}", c.staff_page());
    let p = c.clerk.agent.get(&detail).await;
    let acked = list(&p, "acked");
    assert!(
        acked.contains("佐藤 看護師（市立病院）") && acked.contains("<time"),
        "{acked}"
    );
    assert!(list(&p, "not-acked").contains("田中 相談員"));
    // Unanswered requests are on the clerk's home.
    let home = c.clerk.agent.get("/staff").await;
    assert!(home.main().contains("防災訓練の日程"), "{}", home.main());

    // The reminder goes to those who have not acknowledged, without the message's text.
    let before = c.app.mails().len();
    let p = c.clerk.agent.post(&format!("{detail}/remind"), &[]).await;
    assert_eq!(p.status, 200);
    assert!(
        p.main().contains("1人にお願いのメールを送りました"),
        "{}",
        p.main()
    );
    let mails = c.app.mails();
    assert_eq!(mails.len(), before + 1);
    let mail = mails.last().expect("mail");
    assert_eq!(mail.to, "tanaka@hospital.example.jp");
    assert!(mail.text.contains("在宅医療 連携"));
    assert!(!mail.text.contains("防災訓練"), "no message text in mail");
    let actions = c.app.actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "message.ack").count(), 1);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "message.ack_reminder")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_message_is_corrected_or_withdrawn_within_15_minutes_shown_so_and_audited() {
    let c = channel().await;
    c.nurse.agent.get(&c.guest_page()).await;
    let post = format!("{}/messages", c.guest_page());
    assert_eq!(
        c.nurse
            .agent
            .post(&post, &[("body", "明日は10時に伺います")])
            .await
            .status,
        303
    );
    let m: String = sqlx::query_scalar("select message_id from message")
        .fetch_one(&c.app.state.db.pool)
        .await
        .expect("message");
    let detail = format!("{}/messages/{m}", c.guest_page());
    c.nurse.agent.get(&detail).await;
    let p = c
        .nurse
        .agent
        .post(
            &format!("{detail}/edit"),
            &[("body", "明日は11時に伺います")],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = c.clerk.agent.get(&c.staff_page()).await;
    assert!(page.main().contains("明日は11時に伺います") && page.main().contains("（修正済み）"));
    assert!(!page.main().contains("10時"));
    // Nobody else may change it.
    c.clerk
        .agent
        .get(&format!("{}/messages/{m}", c.staff_page()))
        .await;
    let p = c
        .clerk
        .agent
        .post(&format!("{}/messages/{m}/withdraw", c.staff_page()), &[])
        .await;
    assert_eq!(p.status, 422);
    // After 15 minutes the author cannot either.
    c.app.clock.advance(16 * 60);
    let p = c
        .nurse
        .agent
        .post(&format!("{detail}/edit"), &[("body", "12時に変更")])
        .await;
    assert_eq!(p.status, 422);
    assert!(html_unescape(&p.main()).contains("15分を過ぎた"));
    // A fresh message withdrawn: its text is gone, the withdrawal shown.
    c.nurse
        .agent
        .post(&post, &[("body", "間違えて送りました")])
        .await;
    let fresh: String =
        sqlx::query_scalar("select message_id from message order by seq desc limit 1")
            .fetch_one(&c.app.state.db.pool)
            .await
            .expect("fresh");
    let p = c
        .nurse
        .agent
        .post(
            &format!("{}/messages/{fresh}/withdraw", c.guest_page()),
            &[],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = c.teacher.agent.get(&c.guest_page()).await;
    assert!(page.main().contains("このメッセージは取り消されました"));
    assert!(!page.main().contains("間違えて送りました"));
    let actions = c.app.actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "message.edit").count(), 1);
    assert_eq!(
        actions.iter().filter(|a| *a == "message.withdraw").count(),
        1
    );
}

#[tokio::test]
async fn members_are_told_of_new_messages_by_mail_at_most_once_per_interval_without_the_text() {
    use madoguchi::guests::sweep::sweep;
    let c = channel().await;
    let notices = |app: &TestApp, to: &str| {
        app.mails()
            .into_iter()
            .filter(|m| m.to == to && m.subject.contains("新しいメッセージがあります"))
            .count()
    };
    c.clerk_posts("避難所の開設について連絡します", None).await;
    let report = sweep(&c.app.state).await.expect("sweep");
    assert_eq!(report.notices, 2, "both guests, not the author");
    let mail = c
        .app
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.to == "sato@hospital.example.jp")
        .expect("mail");
    assert!(mail.text.contains("在宅医療 連携"));
    assert!(mail.text.contains(&format!("/c/{}", c.id)));
    assert!(!mail.text.contains("避難所の開設"), "no message text");

    // More news within the interval: no second mail. After it, one more for whoever has not
    // read the channel since.
    c.clerk_posts("追加の連絡", None).await;
    assert_eq!(sweep(&c.app.state).await.expect("sweep").notices, 0);
    c.nurse.agent.get(&c.guest_page()).await;
    c.app.clock.advance(16 * 60);
    let (a, b) = tokio::join!(sweep(&c.app.state), sweep(&c.app.state));
    assert_eq!(
        a.expect("a").notices + b.expect("b").notices,
        1,
        "exactly once"
    );
    assert_eq!(
        notices(&c.app, "sato@hospital.example.jp"),
        1,
        "read it already"
    );
    assert_eq!(notices(&c.app, "tanaka@hospital.example.jp"), 2);

    // The teacher switches the mails off on the account page; the clerk hears of a guest's post.
    let teacher = c.app.guest_sign_in(&c.teacher).await;
    teacher.get("/account").await;
    let p = teacher.post("/account/notices", &[("on", "0")]).await;
    assert_eq!(p.status, 303);
    assert!(
        teacher
            .get("/account")
            .await
            .main()
            .contains("止めています")
    );
    c.nurse.agent.get(&c.guest_page()).await;
    c.nurse
        .agent
        .post(
            &format!("{}/messages", c.guest_page()),
            &[("body", "了解しました")],
        )
        .await;
    c.app.clock.advance(16 * 60);
    sweep(&c.app.state).await.expect("sweep");
    assert_eq!(
        notices(&c.app, "tanaka@hospital.example.jp"),
        2,
        "switched off"
    );
    let to_clerk = c
        .app
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.to == "iryo@city.example.jp" && m.subject.contains("新しいメッセージ"))
        .expect("clerk notice");
    assert!(to_clerk.text.contains(&format!("/staff/channels/{}", c.id)));
    assert!(
        c.app
            .actions()
            .await
            .contains(&"account.notices".to_string())
    );
}

#[tokio::test]
async fn the_live_view_brings_new_messages_under_the_page_guard_and_stops_with_the_session() {
    let c = channel().await;
    let live = format!("{}/live", c.guest_page());
    let page = c.nurse.agent.get(&c.guest_page()).await;
    assert!(page.body.contains("/static/live.js"));
    assert!(page.body.contains(&format!("data-live=\"{live}\"")));
    let p = c.nurse.agent.get(&live).await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains("<html"), "a fragment, not a page");
    c.clerk_posts("新しい連絡です", None).await;
    let p = c.nurse.agent.get(&live).await;
    assert!(p.body.contains("新しい連絡です"));
    // The clerk's view of the same message counts the nurse's reading.
    let p = c.clerk.agent.get(&format!("{}/live", c.staff_page())).await;
    assert!(p.body.contains("既読 1"), "{}", p.body);
    // Another channel's guest gets the same not-found as for the page.
    let stranger = c.guest_of_another_channel().await;
    assert_eq!(stranger.agent.get(&live).await.status, 404);
    // Revoked: the next poll is sent to sign in, and the script stops on that.
    let id = c.app.guest_id("sato@hospital.example.jp").await;
    c.clerk.agent.get(&format!("/staff/guests/{id}")).await;
    c.clerk
        .agent
        .post(
            &format!("/staff/guests/{id}/revoke"),
            &[("reason", "終了"), ("confirm", "yes")],
        )
        .await;
    let p = c.nurse.agent.get(&live).await;
    assert_eq!(p.status, 303);
}

#[tokio::test]
async fn d1_search_finds_messages_and_file_names_of_ones_own_channel_only() {
    // SECURITY D1
    let c = channel().await;
    c.clerk_posts("訪問看護の計画書を共有します", None).await;
    c.clerk_posts("別件: 会議室の予約", None).await;
    c.clerk.agent.get(&c.staff_page()).await;
    let p = c
        .clerk
        .agent
        .send_file(
            &format!("{}/files", c.staff_page()),
            "Care Plan 2027.pdf",
            b"%PDF-1.4\n%%EOF\n".to_vec(),
            "",
        )
        .await;
    assert_eq!(p.status, 303);
    let search = |q: &str| format!("{}/search?q={}", c.guest_page(), q);
    let p = c.nurse.agent.get(&search("%E8%A8%88%E7%94%BB")).await; // 計画
    assert_eq!(p.status, 200);
    let results = list_of(&p);
    assert!(
        results.contains("訪問看護の計画書") && !results.contains("会議室"),
        "{results}"
    );
    // File names, any case, full-width letters as people type them.
    let p = c
        .nurse
        .agent
        .get(&search("%EF%BD%83%EF%BD%81%EF%BD%92%EF%BD%85"))
        .await; // ｃａｒｅ
    assert!(list_of(&p).contains("Care Plan 2027.pdf"), "{}", p.main());
    // Another channel's guest cannot search this one.
    let stranger = c.guest_of_another_channel().await;
    let p = stranger.agent.get(&search("%E8%A8%88%E7%94%BB")).await;
    assert_eq!(p.status, 404);
    assert!(!p.body.contains("訪問看護"));
}

fn list_of(page: &Page) -> String {
    let body = &page.body;
    let start = body.find("id=\"results\"").unwrap_or(body.len());
    html_unescape(&body[start..])
}

#[tokio::test]
async fn e7_the_read_list_exported_as_csv_is_quoted_and_neutralises_formulas() {
    // SECURITY E7
    let c = channel().await;
    let link = c
        .app
        .invite_guest(
            &c.clerk.agent,
            &c.id,
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "formula@example.jp",
            "post",
            30,
        )
        .await;
    let tricky = c.app.enrol_guest(&link, "数式さんの長い合言葉です").await;
    let m = c.clerk_posts("資料を確認してください", Some("")).await;
    tricky.agent.get(&c.guest_page()).await;
    let res = c
        .clerk
        .agent
        .client
        .get(
            c.clerk
                .agent
                .url(&format!("{}/messages/{m}/people.csv", c.staff_page())),
        )
        .send()
        .await
        .expect("export");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let bytes = res.bytes().await.expect("body");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
    assert!(
        text.starts_with("名前,所属,既読の日時,確認の日時\r\n"),
        "{text}"
    );
    // Quoted as RFC 4180 asks, and the formula neutralised.
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",市立病院,"),
        "{text}"
    );
    assert!(!text.contains("\n=") && !text.contains(",="), "{text}");
    assert!(
        c.app
            .actions()
            .await
            .contains(&"message.export".to_string())
    );
}

#[tokio::test]
async fn e1_script_like_text_in_messages_comments_corrections_and_searches_renders_inert() {
    // SECURITY E1
    let c = channel().await;
    let evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    c.nurse.agent.get(&c.guest_page()).await;
    c.nurse
        .agent
        .post(&format!("{}/messages", c.guest_page()), &[("body", evil)])
        .await;
    let m: String = sqlx::query_scalar("select message_id from message")
        .fetch_one(&c.app.state.db.pool)
        .await
        .expect("message");
    let detail = format!("{}/messages/{m}", c.guest_page());
    c.nurse.agent.get(&detail).await;
    c.nurse
        .agent
        .post(&format!("{detail}/edit"), &[("body", &format!("{evil} 2"))])
        .await;
    c.nurse
        .agent
        .send_file(
            &format!("{}/files", c.guest_page()),
            "a.txt",
            b"memo".to_vec(),
            evil,
        )
        .await;
    let q: String = form_urlencoded::byte_serialize(evil.as_bytes()).collect();
    for (agent, path) in [
        (&c.nurse.agent, c.guest_page()),
        (&c.nurse.agent, detail.clone()),
        (&c.nurse.agent, format!("{}/live", c.guest_page())),
        (&c.nurse.agent, format!("{}/search?q={q}", c.guest_page())),
        (&c.clerk.agent, c.staff_page()),
        (&c.clerk.agent, format!("{}/messages/{m}", c.staff_page())),
    ] {
        let p = agent.get(&path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(!p.body.contains("<script>alert"), "{path}");
        assert!(!p.body.contains("<img src=x"), "{path}");
        assert!(p.body.contains("&#60;script&#62;alert(1)"), "{path}");
    }
}

#[tokio::test]
async fn d8_an_ended_channel_takes_no_change_and_a_message_is_changed_only_through_its_own_channel()
{
    // SECURITY D8
    let c = channel().await;
    let due = c.app.date_in(3);
    let m = c
        .clerk_posts("訪問日程を確認してください", Some(&due))
        .await;
    c.nurse.agent.get(&c.guest_page()).await;
    let p = c
        .nurse
        .agent
        .post(
            &format!("{}/messages", c.guest_page()),
            &[("body", "承知しました")],
        )
        .await;
    assert_eq!(p.status, 303);
    let n: String = sqlx::query_scalar("select message_id from message order by seq desc limit 1")
        .fetch_one(&c.app.state.db.pool)
        .await
        .expect("message");

    // Through another channel's URL: the same not-found as a message that does not exist, and
    // nothing changes.
    let other = c.app.create_channel(&c.clerk.agent, "別の案件", 60).await;
    c.clerk.agent.get(&format!("/staff/channels/{other}")).await;
    for path in [
        format!("/staff/channels/{other}/messages/{m}/edit"),
        format!("/staff/channels/{other}/messages/{m}/withdraw"),
        format!("/staff/channels/{other}/messages/{m}/ack"),
        format!("/staff/channels/{other}/messages/{m}/remind"),
    ] {
        let p = c.clerk.agent.post(&path, &[("body", "書き換え")]).await;
        assert_eq!(p.status, 404, "{path}");
    }
    let stranger = c.guest_of_another_channel().await;
    let theirs: String = sqlx::query_scalar(
        "select g.channel_id from guest g join account a on a.account_id = g.account_id \
         where a.name = '別 ゲスト'",
    )
    .fetch_one(&c.app.state.db.pool)
    .await
    .expect("channel");
    stranger.agent.get(&format!("/c/{theirs}")).await;
    let p = stranger
        .agent
        .post(&format!("/c/{theirs}/messages/{n}/withdraw"), &[])
        .await;
    assert_eq!(p.status, 404);
    assert_eq!(
        c.app
            .scalar("select count(*) from message where withdrawn_at is not null or edited_at is not null")
            .await,
        0
    );

    // The channel ends: no post, edit, withdrawal, acknowledgement or reminder from anyone.
    c.clerk.agent.get(&c.staff_page()).await;
    let p = c
        .clerk
        .agent
        .post(
            &format!("{}/archive", c.staff_page()),
            &[("reason", "事業終了"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    let detail = format!("{}/messages/{m}", c.staff_page());
    c.clerk.agent.get(&detail).await;
    let mails = c.app.mails().len();
    for (action, fields) in [
        ("edit", vec![("body", "日程を変更しました")]),
        ("ack", vec![]),
        ("remind", vec![]),
        ("withdraw", vec![]),
    ] {
        let p = c
            .clerk
            .agent
            .post(&format!("{detail}/{action}"), &fields)
            .await;
        assert_eq!(p.status, 422, "{action}");
        assert!(
            html_unescape(&p.main()).contains("この案件は終了しているため"),
            "{action}: {}",
            p.main()
        );
    }
    let p = c
        .clerk
        .agent
        .post(
            &format!("{}/messages", c.staff_page()),
            &[("body", "終了後の書き込み")],
        )
        .await;
    assert_eq!(p.status, 404);
    // The nurse's access ended with the channel.
    let p = c
        .nurse
        .agent
        .post(&format!("{}/messages/{n}/withdraw", c.guest_page()), &[])
        .await;
    assert_ne!(p.status, 200);
    assert_eq!(c.app.mails().len(), mails, "no reminder mailed");
    assert_eq!(c.app.scalar("select count(*) from message_ack").await, 0);
    assert_eq!(
        c.app
            .scalar("select count(*) from message where withdrawn_at is not null or edited_at is not null")
            .await,
        0
    );
    assert_eq!(
        c.app
            .scalar("select count(*) from message where body = '終了後の書き込み'")
            .await,
        0
    );
    let refused: Vec<String> = c
        .app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.outcome == "denied" && r.detail.as_deref() == Some("channel ended"))
        .map(|r| {
            assert_eq!(r.channel_id.as_deref(), Some(c.id.as_str()));
            r.action
        })
        .collect();
    assert_eq!(
        refused,
        [
            "message.edit",
            "message.ack",
            "message.ack_reminder",
            "message.withdraw"
        ]
    );
}

#[tokio::test]
async fn d9_one_reminder_a_day_per_message_and_never_to_a_guest_whose_access_ended() {
    // SECURITY D9
    let c = channel().await;
    let due = c.app.date_in(3);
    let m = c.clerk_posts("書類の提出をお願いします", Some(&due)).await;
    // The teacher's access ends: they are not reminded.
    let teacher = c.app.guest_id(&c.teacher.sign_in_name).await;
    c.clerk.agent.get(&format!("/staff/guests/{teacher}")).await;
    let p = c
        .clerk
        .agent
        .post(
            &format!("/staff/guests/{teacher}/revoke"),
            &[("reason", "異動のため"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    let detail = format!("{}/messages/{m}", c.staff_page());
    c.clerk.agent.get(&detail).await;
    let before = c.app.mails().len();
    let p = c.clerk.agent.post(&format!("{detail}/remind"), &[]).await;
    assert_eq!(p.status, 200);
    let mails = c.app.mails();
    assert_eq!(mails.len(), before + 1);
    assert_eq!(mails.last().expect("mail").to, "sato@hospital.example.jp");

    // Five more clicks within the day send nothing more.
    for _ in 0..5 {
        let p = c.clerk.agent.post(&format!("{detail}/remind"), &[]).await;
        assert_eq!(p.status, 422);
        assert!(
            html_unescape(&p.main()).contains("24時間以内にすでに送っています"),
            "{}",
            p.main()
        );
    }
    assert_eq!(c.app.mails().len(), before + 1);
    // A day later, one more.
    c.app.clock.advance(24 * 3600);
    let clerk = c.app.sign_in(&c.clerk).await;
    clerk.get(&detail).await;
    let p = clerk.post(&format!("{detail}/remind"), &[]).await;
    assert_eq!(p.status, 200, "{}", p.main());
    assert_eq!(c.app.mails().len(), before + 2);
    let reminders = c
        .app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "message.ack_reminder")
        .map(|r| r.outcome)
        .collect::<Vec<_>>();
    assert_eq!(
        reminders,
        [
            "success", "denied", "denied", "denied", "denied", "denied", "success"
        ]
    );
}

#[tokio::test]
async fn the_first_view_of_a_channel_with_ten_thousand_messages_writes_one_row() {
    let c = channel().await;
    // Ten thousand messages, posted by the clerk (inserted in one go, as an import would).
    let clerk: String =
        sqlx::query_scalar("select account_id from account where email = 'iryo@city.example.jp'")
            .fetch_one(&c.app.state.db.pool)
            .await
            .expect("clerk");
    let mut tx = c.app.state.db.pool.begin().await.expect("tx");
    for i in 0..10_000i64 {
        sqlx::query(
            "insert into message (message_id, channel_id, author_id, body, created_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(format!("bulk{i:05}"))
        .bind(&c.id)
        .bind(&clerk)
        .bind(format!("連絡 {i}"))
        .bind(c.app.now())
        .execute(&mut *tx)
        .await
        .expect("message");
    }
    tx.commit().await.expect("commit");
    let rows = |app: &TestApp| {
        let pool = app.state.db.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("select count(*) from channel_read")
                .fetch_one(&pool)
                .await
                .expect("rows");
            n
        }
    };
    let before = rows(&c.app).await;
    let page = c.nurse.agent.get(&c.guest_page()).await;
    assert_eq!(page.status, 200);
    assert_eq!(rows(&c.app).await, before + 1, "one row for the whole view");
    // Every one of the ten thousand is read by the nurse, the oldest as the newest.
    assert_eq!(c.readers_of("bulk00000").await, 1);
    assert_eq!(c.readers_of("bulk09999").await, 1);
    // Viewing again without anything new writes nothing.
    c.nurse.agent.get(&c.guest_page()).await;
    assert_eq!(rows(&c.app).await, before + 1);
    let p = c.clerk.agent.get(&c.staff_page()).await;
    assert!(p.main().contains("既読 1"), "{}", p.main());
}
