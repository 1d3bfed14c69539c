//! The clerk console, one task per page: each task's page, the error summary of every clerk
//! form (GOV.UK pattern), and the confirmation step of the actions that cannot be undone.

use crate::helpers::*;

/// What a screen reader or a keyboard user would trip over in a page's markup: duplicate ids,
/// `aria-describedby` or summary links naming no element, form controls without a label, no
/// page language, not exactly one heading of the first level.
fn markup_problems(body: &str) -> Vec<String> {
    let mut problems = vec![];
    let attr_values = |name: &str| -> Vec<String> {
        let marker = format!(" {name}=\"");
        body.match_indices(&marker)
            .filter_map(|(i, _)| {
                let rest = &body[i + marker.len()..];
                rest.find('"').map(|end| rest[..end].to_string())
            })
            .collect()
    };
    let ids = attr_values("id");
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        if !seen.insert(id) {
            problems.push(format!("duplicate id {id}"));
        }
    }
    for named in attr_values("aria-describedby") {
        for id in named.split_whitespace() {
            if !ids.iter().any(|i| i == id) {
                problems.push(format!("aria-describedby names no element: {id}"));
            }
        }
    }
    for href in attr_values("href") {
        if let Some(id) = href.strip_prefix('#')
            && !id.is_empty()
            && !ids.iter().any(|i| i == id)
        {
            problems.push(format!("link to a missing element: #{id}"));
        }
    }
    for tag in ["<input", "<select", "<textarea"] {
        for (i, _) in body.match_indices(tag) {
            let end = body[i..].find('>').map_or(body.len(), |e| i + e);
            let element = &body[i..end];
            if element.contains("type=\"hidden\"") || element.contains("type=\"submit\"") {
                continue;
            }
            let labelled = match element
                .split(" id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                Some(id) => body.contains(&format!("for=\"{id}\"")),
                None => false,
            };
            // A control inside its label (radio choices).
            let wrapped = body[..i]
                .rfind("<label")
                .is_some_and(|l| !body[l..i].contains("</label>"));
            if !labelled && !wrapped {
                problems.push(format!("unlabelled control: {element}"));
            }
        }
    }
    if !body.contains("<html lang=\"") {
        problems.push("no page language".into());
    }
    let h1 = body.matches("<h1").count();
    if h1 != 1 {
        problems.push(format!("{h1} first-level headings"));
    }
    problems
}

/// A refused form as the clerk sees it: 422, a summary at the top that takes focus and links to
/// the field, the field marked invalid and described by its message.
fn assert_error_state(page: &Page, field: &str, message: &str) {
    assert_eq!(page.status, 422, "{}", page.main());
    let body = &page.body;
    let summary = body.find("id=\"error-summary\"").expect("an error summary");
    let main = body.find("<main").expect("main");
    let first_form = body[main..].find("<form").map_or(body.len(), |f| main + f);
    assert!(summary < first_form, "the summary comes before the form");
    let summary_tag = &body[body[..summary].rfind('<').expect("tag")..];
    let summary_tag = &summary_tag[..summary_tag.find('>').expect("end")];
    assert!(summary_tag.contains("autofocus") && summary_tag.contains("tabindex=\"-1\""));
    let link = format!("<a href=\"#{field}\">");
    let line = body
        .find(&link)
        .map(|i| &body[i + link.len()..])
        .and_then(|rest| rest.split("</a>").next())
        .unwrap_or_else(|| panic!("the summary links to #{field}"));
    assert!(
        line.contains(message) && line.contains(": "),
        "the summary names the field and says {message:?}: {line}"
    );
    let control = body
        .find(&format!(" id=\"{field}\""))
        .unwrap_or_else(|| panic!("a control #{field}"));
    let start = body[..control].rfind('<').expect("tag");
    let tag = &body[start..start + body[start..].find('>').expect("end")];
    assert!(tag.contains("aria-invalid=\"true\""), "{tag}");
    assert!(tag.contains(&format!("{field}-error")), "{tag}");
    assert!(body.contains(&format!("id=\"{field}-error\">{message}")));
    let problems = markup_problems(body);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn each_channel_task_has_a_page_of_its_own_linked_from_the_channel() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let page = clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("name=\"organisation\""),
        "the channel page holds no issue form"
    );
    for (path, heading) in [
        ("guests/new", "ゲストを招待する"),
        ("guests/bulk", "CSV でまとめて招待する"),
        ("edit", "案件の編集"),
        ("revoke-all", "すべてのゲストの利用停止 — 在宅医療 連携"),
        ("archive", "案件を終了する — 在宅医療 連携"),
    ] {
        let link = format!("/staff/channels/{channel}/{path}");
        assert!(page.body.contains(&format!("href=\"{link}\"")), "{link}");
        let task = clerk.agent.get(&link).await;
        assert_eq!(task.status, 200, "{link}");
        assert!(task.body.contains(&format!("<h1>{heading}</h1>")), "{link}");
        let problems = markup_problems(&task.body);
        assert!(problems.is_empty(), "{link}: {problems:#?}");
    }
    // The latest allowed expiry is written as people read dates, with the weekday.
    let issue = clerk
        .agent
        .get(&format!("/staff/channels/{channel}/guests/new"))
        .await;
    let hint = issue.text_of_id("expires_on-hint").expect("hint");
    assert!(
        hint.starts_with("最長 ") && hint.contains('年') && hint.contains("日（"),
        "{hint}"
    );
}

#[tokio::test]
async fn every_clerk_form_refused_shows_a_summary_that_takes_focus_and_marks_its_field() {
    let app = spawn_app().await;
    let (admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院チーム", 60).await;
    let c = &clerk.agent;
    // Creating a channel: no name.
    c.get("/staff/channels").await;
    let p = c
        .post(
            "/staff/channels",
            &[
                ("name", ""),
                ("purpose", "連絡"),
                ("ends_on", &app.date_in(60)),
            ],
        )
        .await;
    assert_error_state(&p, "channel_name", "入力してください。");
    // Adding a clerk (an admin's form): a bad address.
    let a = &admin.agent;
    a.get("/staff/clerks").await;
    let p = a
        .post(
            "/staff/clerks",
            &[
                ("name", "新人 職員"),
                ("email", "not-an-address"),
                ("role", "clerk"),
                ("department_id", ""),
            ],
        )
        .await;
    assert_error_state(&p, "email", "メールアドレスの形式が正しくありません。");
    // Adding a department: no name.
    a.get("/staff/departments").await;
    let p = a.post("/staff/departments", &[("name", "")]).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("id=\"error-summary\"") && p.body.contains("aria-invalid=\"true\""));
    assert!(
        markup_problems(&p.body).is_empty(),
        "{:#?}",
        markup_problems(&p.body)
    );
    // Issuing a guest: a bad address.
    c.get(&format!("/staff/channels/{channel}/guests/new"))
        .await;
    let p = c
        .post(
            &format!("/staff/channels/{channel}/guests/new"),
            &[
                ("name", "看護 花子"),
                ("organisation", "市立病院"),
                ("kind", "hospital"),
                ("email", "not-an-address"),
                ("permission", "post"),
                ("expires_on", &app.date_in(30)),
                ("delivery", "email"),
            ],
        )
        .await;
    assert_error_state(&p, "email", "メールアドレスの形式が正しくありません。");
    assert!(
        p.body.contains("value=\"看護 花子\""),
        "nothing typed is lost"
    );
    assert_eq!(app.scalar("select count(*) from guest").await, 0);
    // Editing the channel: no name.
    let p = c
        .post(
            &format!("/staff/channels/{channel}/edit"),
            &[
                ("name", ""),
                ("purpose", "連絡"),
                ("ends_on", &app.date_in(60)),
            ],
        )
        .await;
    assert_error_state(&p, "channel_name", "入力してください。");
    // The confirmation of an ending: no reason.
    let p = c
        .post(
            &format!("/staff/channels/{channel}/revoke-all"),
            &[("reason", " "), ("confirm", "yes")],
        )
        .await;
    assert_error_state(&p, "reason", "入力してください。");
    // A message to the channel: empty.
    let p = c
        .post(
            &format!("/staff/channels/{channel}/messages"),
            &[("body", "")],
        )
        .await;
    assert_error_state(&p, "body", "入力してください。");
    // A guest's page: extending without a reason.
    app.invite_guest(c, &channel, "医師 一", "one@example.jp", "post", 30)
        .await;
    let id = app.guest_id("one@example.jp").await;
    c.get(&format!("/staff/guests/{id}")).await;
    let p = c
        .post(
            &format!("/staff/guests/{id}/extend"),
            &[("expires_on", &app.date_in(40)), ("reason", "")],
        )
        .await;
    assert_error_state(&p, "ext-reason", "入力してください。");
    // A CSV file with a bad row: the summary names the file's line and nothing is issued.
    let res = app
        .upload_csv(
            c,
            &channel,
            "氏名,所属,メール\n\n医師 二,市立病院,two-at-example\n",
            "post",
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.expect("body");
    assert!(body.contains("id=\"error-summary\""));
    assert!(
        body.contains("3 行目: メールアドレス: メールアドレスの形式が正しくありません。"),
        "{body}"
    );
    assert!(
        markup_problems(&body).is_empty(),
        "{:#?}",
        markup_problems(&body)
    );
    assert_eq!(app.scalar("select count(*) from guest").await, 1);
}

#[tokio::test]
async fn irreversible_actions_change_nothing_without_their_confirmation_step() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let c = &clerk.agent;
    let channel = app.create_channel(c, "病院チーム", 60).await;
    for (name, email) in [("医師 一", "one@example.jp"), ("医師 二", "two@example.jp")] {
        app.invite_guest(c, &channel, name, email, "post", 30).await;
    }
    let one = app.guest_id("one@example.jp").await;
    let live = "select count(*) from account where kind = 'guest' and status = 'invited'";

    // Each ending, posted with a reason but not from its confirmation page, only shows that page.
    for path in [
        format!("/staff/channels/{channel}/revoke-all"),
        format!("/staff/channels/{channel}/archive"),
        format!("/staff/guests/{one}/revoke"),
    ] {
        c.get(&path).await;
        let p = c.post(&path, &[("reason", "年度末")]).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(p.body.contains("この操作は取り消せません。"), "{path}");
        assert!(p.body.contains(">年度末</textarea>"), "the reason is kept");
        assert_eq!(app.scalar(live).await, 2, "{path} changed nothing");
    }
    assert_eq!(
        app.scalar("select count(*) from channel where status = 'active'")
            .await,
        1
    );
    // The page says to how many people it happens.
    let p = c.get(&format!("/staff/channels/{channel}/archive")).await;
    assert!(
        p.body
            .contains("利用中・招待中のゲスト 2 人が、すぐに利用できなくなります。"),
        "{}",
        p.main()
    );
    let p = c.get(&format!("/staff/guests/{one}/revoke")).await;
    assert!(p.body.contains("医師 一 さん（市立病院）"), "{}", p.main());

    // Confirmed, it is done, and the channel says for how many.
    let p = c
        .post(
            &format!("/staff/guests/{one}/revoke"),
            &[("reason", "異動"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(app.status_of(&one).await, "revoked");
    let p = c
        .post(
            &format!("/staff/channels/{channel}/revoke-all"),
            &[("reason", "年度末"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    let page = c.get(&format!("/staff/channels/{channel}")).await;
    assert!(
        page.body
            .contains("この案件のゲスト 1 人を利用停止にしました。"),
        "{}",
        page.main()
    );
    assert_eq!(app.scalar(live).await, 0);
    // The guest rows' copy of the status, which the lists filter on, followed every change.
    assert_eq!(
        app.scalar("select count(*) from guest where status = 'revoked'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_csv_import_says_how_many_people_were_invited() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院チーム", 60).await;
    let csv = "医師 一,市立病院,one@example.jp\n医師 二,市立病院,two@example.jp\n医師 三,市立病院,three@example.jp\n";
    let res = app.upload_csv(&clerk.agent, &channel, csv, "post").await;
    assert_eq!(res.status(), 303);
    let page = clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    assert!(
        page.body.contains("3 人を招待し、メールを送りました。"),
        "{}",
        page.main()
    );
}
