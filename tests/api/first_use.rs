//! First contact as a resident or a hospital nurse meets it: the sign-in page's help and whom
//! to call, recovery codes that can be kept, and mails in the language the guest was invited in.

use crate::helpers::*;

#[tokio::test]
async fn the_sign_in_page_names_the_city_whom_to_call_and_what_to_do_about_a_forgotten_password() {
    let app = spawn_city_app().await;
    let page = app.agent().get("/signin").await;
    assert_eq!(page.status, 200);
    for expected in [
        "<span class=\"city\">窓口市</span>",
        "パスワードや ログインIDを わすれた とき",
        "あなたを 招待した 市の 担当者",
        "href=\"tel:0120-000-111\"",
        "href=\"mailto:shimin@city.example.jp\"",
    ] {
        assert!(
            page.body.contains(expected),
            "{expected:?} on the sign-in page"
        );
    }
    // Staff are told to ask an administrator, and the guests' contact is not theirs.
    let staff = app.agent().get("/staff/signin").await;
    assert!(staff.body.contains("管理者に連絡してください"));
    // Without a configured contact the footer is left out rather than shown empty.
    let bare = spawn_app().await;
    let page = bare.agent().get("/signin").await;
    assert!(!page.body.contains("id=\"contact\""));
}

#[tokio::test]
async fn recovery_codes_can_be_saved_as_a_file_and_are_shown_with_a_warning() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "病院チーム", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "看護 花子",
            "n@example.jp",
            "post",
            30,
        )
        .await;
    let guest = app.enrol_guest(&link, "看護師の長い合言葉です").await;
    // The page can be opened again for a while: a reload does not lose the codes.
    let page = guest.agent.get("/setup/recovery-codes").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("class=\"warning\" id=\"recovery-warning\"")
    );
    assert!(page.body.contains("href=\"/setup/recovery-codes.txt\""));
    let res = guest
        .agent
        .client
        .get(guest.agent.url("/setup/recovery-codes.txt"))
        .send()
        .await
        .expect("download");
    assert_eq!(res.status(), 200);
    let disposition = res
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let text = res.text().await.expect("text");
    assert_eq!(guest.recovery_codes.len(), 10);
    for code in &guest.recovery_codes {
        assert!(text.contains(code.as_str()), "{code} in the file");
    }
    // After the time to keep them, they are gone from the session.
    app.clock.advance(16 * 60);
    let p = guest.agent.get("/setup/recovery-codes.txt").await;
    assert_eq!(p.status, 303);
    let p = app.agent().get("/setup/recovery-codes.txt").await;
    assert_eq!(p.status, 303, "another visitor gets nothing");
}

#[tokio::test]
async fn a_guest_invited_in_english_gets_their_invitation_english_first() {
    let app = spawn_city_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("健康課", "h@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "Ward 3 liaison", 60).await;
    let c = &clerk.agent;
    c.get(&format!("/staff/channels/{channel}/guests/new"))
        .await;
    let p = c
        .post(
            &format!("/staff/channels/{channel}/guests/new"),
            &[
                ("name", "Maria Santos"),
                ("organisation", "City Hospital"),
                ("kind", "hospital"),
                ("email", "maria@hospital.example.jp"),
                ("permission", "post"),
                ("expires_on", &app.date_in(30)),
                ("lang", "en"),
                ("delivery", "email"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let mail = app.mails().pop().expect("invitation");
    assert!(
        mail.subject
            .starts_with("【窓口市】「Ward 3 liaison」Your invitation to Madoguchi / "),
        "{}",
        mail.subject
    );
    let english = mail.text.find("Dear Maria Santos").expect("English part");
    let japanese = mail.text.find("Maria Santos 様").expect("Japanese part");
    assert!(english < japanese, "English first");
    assert!(mail.text.contains("If you forget your password"));
}
