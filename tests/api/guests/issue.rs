//! Issuing guests: one by one, as a printed sheet, from a CSV file; the clerks' guest lists.

use crate::helpers::*;

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
    // The sheet is shown after a redirect, so that reloading it prints it again.
    assert_eq!(p.status, 303, "{}", p.main());
    let sheet = p.location().expect("to the sheet");
    let p = clerk.agent.get(&sheet).await;
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
    let again = clerk.agent.get(&sheet).await;
    assert_eq!(
        again.text_of_id("invite-link"),
        Some(link.clone()),
        "a reload"
    );
    let resident = app.enrol_guest(&link, "じゅうみんの あいことば").await;
    assert_eq!(resident.sign_in_name, id);
    app.guest_sign_in(&resident).await;
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
        body.contains("3 行目: メールアドレス: メールアドレスの形式が正しくありません。"),
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

/// A 健康課 clerk with two channels, 健診 and 予防接種, and guests invited into them: each as
/// (channel 0 or 1, name, address); returns the app, the clerk, both channels and the links.
async fn health_department(
    guests: &[(usize, &str, &str)],
) -> (TestApp, Person, [String; 2], Vec<String>) {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channels = [
        app.create_channel(&clerk.agent, "健診", 60).await,
        app.create_channel(&clerk.agent, "予防接種", 60).await,
    ];
    let mut links = vec![];
    for (channel, name, email) in guests {
        links.push(
            app.invite_guest(&clerk.agent, &channels[*channel], name, email, "post", 30)
                .await,
        );
    }
    (app, clerk, channels, links)
}

/// The department's list reads its guests' department and name order from the guest rows
/// (migration 0014): they must follow the channels and the names they come from.
#[tokio::test]
async fn the_department_list_counts_each_status_and_sorts_by_name_across_its_channels() {
    let (app, clerk, _, links) = health_department(&[
        (0, "青木 一郎", "aoki@hospital.example.jp"),
        (0, "伊藤 二郎", "ito@hospital.example.jp"),
        (1, "上田 三郎", "ueda@school.example.jp"),
    ])
    .await;
    // 伊藤 opens the invitation: no longer only invited, but opened.
    assert_eq!(app.agent().get(&links[1]).await.status, 200);
    let p = clerk.agent.get("/staff/guests?status=invited").await;
    assert!(p.body.contains("2 人"), "{}", p.main());
    assert!(p.body.contains("青木 一郎") && p.body.contains("上田 三郎"));
    assert!(!p.body.contains("伊藤 二郎"));
    let p = clerk.agent.get("/staff/guests?status=opened").await;
    assert!(p.body.contains("1 人") && p.body.contains("伊藤 二郎"));

    let order = |body: &str, names: &[&str]| {
        let at: Vec<usize> = names
            .iter()
            .map(|n| body.find(n).unwrap_or_else(|| panic!("{n} listed")))
            .collect();
        at.windows(2).all(|w| w[0] < w[1])
    };
    let p = clerk.agent.get("/staff/guests?sort=name").await;
    assert!(p.body.contains("3 人"));
    assert!(order(&p.body, &["上田 三郎", "伊藤 二郎", "青木 一郎"]));
    // A renamed person moves to their new name's place.
    sqlx::query(
        "update account set name = 'あべ 一郎' where account_id = \
         (select account_id from guest where sign_in_name = 'aoki@hospital.example.jp')",
    )
    .execute(&app.state.db.pool)
    .await
    .expect("rename");
    let p = clerk.agent.get("/staff/guests?sort=name").await;
    assert!(order(&p.body, &["あべ 一郎", "上田 三郎", "伊藤 二郎"]));
}

#[tokio::test]
async fn the_guest_counts_follow_every_issue_enrolment_revocation_expiry_and_move() {
    let (app, clerk, [first, second], links) = health_department(&[
        (0, "青木 一郎", "aoki@hospital.example.jp"),
        (0, "伊藤 二郎", "ito@hospital.example.jp"),
        (0, "江藤 四郎", "eto@hospital.example.jp"),
        (1, "上田 三郎", "ueda@school.example.jp"),
    ])
    .await;
    // What the clerk reads above each list, for a filter.
    let count = |page: Page| {
        let at = page.body.find("id=\"guest-count\">").expect("count shown");
        let text = &page.body[at..];
        text[text.find('>').expect("tag") + 1..text.find(" 人").expect("count")].to_string()
    };
    let counts = |path: String| {
        let agent = &clerk.agent;
        async move {
            let mut shown = vec![];
            for status in ["", "invited", "revoked", "expired"] {
                shown.push(count(agent.get(&format!("{path}?status={status}")).await));
            }
            shown.join(" ")
        }
    };
    assert_eq!(counts("/staff/guests".into()).await, "4 4 0 0");
    assert_eq!(counts(format!("/staff/channels/{first}")).await, "3 3 0 0");

    app.enrol_guest(&links[0], "青木さんの長い合言葉です").await;
    let ito = app.guest_id("ito@hospital.example.jp").await;
    clerk.agent.get(&format!("/staff/guests/{ito}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/guests/{ito}/revoke"),
            &[("reason", "異動のため"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, 303);
    // 江藤's access ended a minute ago; the sweeper records the expiry.
    sqlx::query("update guest set expires_at = $1 where sign_in_name = 'eto@hospital.example.jp'")
        .bind(app.now() - 60)
        .execute(&app.state.db.pool)
        .await
        .expect("end the access");
    madoguchi::guests::sweep::sweep(&app.state)
        .await
        .expect("sweep");
    assert_eq!(counts("/staff/guests".into()).await, "4 1 1 1");
    assert_eq!(counts(format!("/staff/channels/{first}")).await, "3 0 1 1");
    assert_eq!(counts(format!("/staff/channels/{second}")).await, "1 1 0 0");

    // Moved by hand in the database: a guest to the other channel, then that channel to
    // another department. The counts follow, and match what the rows say.
    let ueda = app.guest_id("ueda@school.example.jp").await;
    sqlx::query("update guest set channel_id = $1 where account_id = $2")
        .bind(&first)
        .bind(&ueda)
        .execute(&app.state.db.pool)
        .await
        .expect("move the guest");
    assert_eq!(counts(format!("/staff/channels/{first}")).await, "4 1 1 1");
    assert_eq!(counts(format!("/staff/channels/{second}")).await, "0 0 0 0");
    sqlx::query(
        "insert into department (department_id, name, created_at) \
         select 'elsewhere', '別の課', created_at from department limit 1",
    )
    .execute(&app.state.db.pool)
    .await
    .expect("a department");
    sqlx::query("update channel set department_id = 'elsewhere' where channel_id = $1")
        .bind(&first)
        .execute(&app.state.db.pool)
        .await
        .expect("move the channel");
    assert_eq!(counts("/staff/guests".into()).await, "0 0 0 0");
    let rows = app
        .scalar("select count(*) from guest where department_id = 'elsewhere'")
        .await;
    assert_eq!(rows, 4);
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

/// The clerks' lists are kept in memory between views (migration 0017). Every change a list
/// shows reaches the very next view of each list that shows it, whether the portal made it or
/// someone changed the database by hand.
#[tokio::test]
async fn a_kept_guest_list_shows_every_change_on_the_next_view() {
    let (app, clerk, [first, _], links) = health_department(&[
        (0, "青木 一郎", "aoki@hospital.example.jp"),
        (1, "上田 三郎", "ueda@school.example.jp"),
    ])
    .await;
    let aoki = app.guest_id("aoki@hospital.example.jp").await;
    let channel_page = format!("/staff/channels/{first}");
    // 青木's row in the channel's list and in the department's, as the clerk sees them now.
    let rows = || {
        let agent = &clerk.agent;
        let channel_page = channel_page.clone();
        let aoki = aoki.clone();
        async move {
            let mut rows = vec![];
            for path in [channel_page.as_str(), "/staff/guests"] {
                let body = agent.get(path).await.body;
                let link = body
                    .find(&format!("/staff/guests/{aoki}\""))
                    .unwrap_or_else(|| panic!("青木 listed on {path}"));
                let start = body[..link].rfind("<tr>").expect("row start");
                let end = link + body[link..].find("</tr>").expect("row end");
                rows.push(body[start..end].to_string());
            }
            rows
        }
    };
    let exec = |sql: &'static str| {
        let pool = app.state.db.pool.clone();
        let aoki = aoki.clone();
        async move {
            sqlx::query(sql)
                .bind(aoki)
                .execute(&pool)
                .await
                .expect("change by hand");
        }
    };
    let shows = |rows: &[String], text: &str| rows.iter().all(|r| r.contains(text));
    let before = rows().await;
    assert!(
        shows(&before, "招待済み") && shows(&before, "青木 一郎"),
        "{before:?}"
    );
    assert!(shows(&before, "健診"), "{before:?}");

    // 青木 opens the invitation.
    assert_eq!(app.agent().get(&links[0]).await.status, 200);
    assert!(shows(&rows().await, "招待を開いた"));
    // Renamed, the access extended, the channel renamed and the sponsor renamed, each by hand.
    exec("update account set name = '青木 一朗' where account_id = $1").await;
    assert!(shows(&rows().await, "青木 一朗"));
    exec("update guest set expires_at = 4102444800 where account_id = $1").await;
    assert!(shows(&rows().await, "2100年1月1日"));
    exec("update channel set name = '健康診断' where channel_id = (select channel_id from guest where account_id = $1)").await;
    assert!(shows(&rows().await, "健康診断"));
    exec("update account set name = '健康 花子' where account_id = (select sponsor_id from guest where account_id = $1)").await;
    assert!(shows(&rows().await, "健康 花子"));
    // Enrolled, then seen on the channel.
    let guest = app.enrol_guest(&links[0], "青木さんの長い合言葉です").await;
    let seen = rows().await;
    assert!(
        shows(&seen, "登録済み") || shows(&seen, "利用中"),
        "{seen:?}"
    );
    exec("update guest set last_access_at = null where account_id = $1").await;
    assert!(shows(&rows().await, "登録済み"));
    guest.agent.get(&format!("/c/{first}")).await;
    assert!(shows(&rows().await, "利用中"));
    // The same rows in English for a clerk who chose it: the Japanese drawing is not theirs.
    let p = clerk
        .agent
        .post("/lang", &[("lang", "en"), ("back", "/staff/guests")])
        .await;
    assert_eq!(p.status, 303);
    let english = rows().await;
    assert!(shows(&english, "Active") && !english.iter().any(|r| r.contains("利用中")));
}
