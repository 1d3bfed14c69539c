//! The printed invitation sheet: what it tells a resident, in their language, and printing it
//! again (a reload shows the same sheet; another browser makes a fresh link and says so).

use crate::helpers::*;

async fn print_invitation(
    app: &TestApp,
    clerk: &Agent,
    channel: &str,
    name: &str,
    organisation: &str,
    lang: &str,
) -> Page {
    clerk
        .get(&format!("/staff/channels/{channel}/guests/new"))
        .await;
    let p = clerk
        .post(
            &format!("/staff/channels/{channel}/guests/new"),
            &[
                ("name", name),
                ("organisation", organisation),
                ("kind", "resident"),
                ("email", ""),
                ("permission", "post"),
                ("expires_on", &app.date_in(30)),
                ("lang", lang),
                ("delivery", "print"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    clerk.get(&p.location().expect("to the sheet")).await
}

fn has_long_date(text: &str) -> bool {
    // 2026年12月25日(金)
    text.split('年').skip(1).any(|rest| {
        let (month, rest) = rest.split_once('月').unwrap_or(("", ""));
        let (day, rest) = rest.split_once('日').unwrap_or(("", ""));
        month.parse::<u8>().is_ok()
            && day.parse::<u8>().is_ok()
            && [
                "（月）",
                "（火）",
                "（水）",
                "（木）",
                "（金）",
                "（土）",
                "（日）",
            ]
            .iter()
            .any(|w| rest.starts_with(w))
    })
}

#[tokio::test]
async fn the_sheet_names_the_city_the_apps_the_sign_in_address_and_dates_with_weekdays() {
    let app = spawn_city_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民課", "m@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "地域防災", 60).await;
    let p = print_invitation(
        &app,
        &clerk.agent,
        &channel,
        "住民 一郎",
        "第三町内会",
        "ja",
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.main());
    let body = &p.body;
    for expected in [
        "<html lang=\"ja\">",
        "窓口市 市民課",
        "住民 一郎 さま",
        "Google Authenticator、Microsoft Authenticator",
        // The same words as the screens the resident will see.
        "「このスマートフォンの認証アプリで開く」",
        "「認証アプリに表示された6桁のコード」",
        "ログインの たびに この ID が ひつよう です。",
        "http://madoguchi.city.example.jp/signin",
        "でんわ: 0120-000-111",
        "メール: shimin@city.example.jp",
    ] {
        assert!(body.contains(expected), "{expected:?} on the sheet");
    }
    assert!(
        !body.contains("がめんの QRコードを よみとって"),
        "no second screen needed"
    );
    let link_until = p.text_of_id("link-expires").expect("link expiry");
    assert!(
        has_long_date(&link_until) && link_until.contains('時'),
        "{link_until}"
    );
    let until = p.text_of_id("expires-on").expect("access end");
    assert!(has_long_date(&until), "{until}");

    // In English for a guest invited in English: no honorific glued to the name.
    let p = print_invitation(&app, &clerk.agent, &channel, "Maria Santos", "Ward 3", "en").await;
    assert!(p.body.contains("<html lang=\"en\">"));
    assert!(p.body.contains("For Maria Santos"), "{}", p.main());
    assert!(!p.body.contains("さま"));
    assert!(p.body.contains("You need this ID every time you sign in."));
}

#[tokio::test]
async fn a_sheet_prints_again_while_its_link_is_unused_and_elsewhere_with_a_fresh_link() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("市民課", "m@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "地域防災", 60).await;
    let p = print_invitation(
        &app,
        &clerk.agent,
        &channel,
        "住民 一郎",
        "第三町内会",
        "ja",
    )
    .await;
    let link = p.text_of_id("invite-link").expect("link");
    let sign_in_id = p.text_of_id("sign-in-name").expect("id");
    let guest = app.guest_id(&sign_in_id).await;
    let sheet = format!("/staff/guests/{guest}/sheet");
    // The guest's page offers the sheet while the invitation is open.
    let page = clerk.agent.get(&format!("/staff/guests/{guest}")).await;
    assert!(page.body.contains(&format!("href=\"{sheet}\"")));
    // The same browser prints the same link again.
    let again = clerk.agent.get(&sheet).await;
    assert_eq!(again.text_of_id("invite-link"), Some(link.clone()));

    // Another browser of the same clerk holds no link: it is told what printing again does.
    let desk = app.sign_in(&clerk).await;
    let p = desk.get(&sheet).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body
            .contains("前に印刷した紙のQRコードは使えなくなります"),
        "{}",
        p.main()
    );
    assert!(
        p.text_of_id("invite-link").is_none(),
        "no link without asking"
    );
    let p = desk.post(&sheet, &[]).await;
    assert_eq!(p.status, 303);
    let p = desk.get(&p.location().expect("sheet")).await;
    let fresh = p.text_of_id("invite-link").expect("a fresh link");
    assert_ne!(fresh, link);
    assert!(
        p.body
            .contains("まえに 印刷した 紙の QRコードは もう つかえません")
    );
    assert_eq!(p.text_of_id("sign-in-name"), Some(sign_in_id.clone()));
    let local = |l: &str| l.replace("http://madoguchi.city.example.jp", "");
    assert_eq!(
        app.agent().get(&local(&link)).await.status,
        404,
        "the old sheet"
    );
    // The first browser's sheet is the dead link now: it offers a reprint instead.
    let p = clerk.agent.get(&sheet).await;
    assert!(p.text_of_id("invite-link").is_none());

    // Once the resident has enrolled there is no sheet to print.
    app.enrol_guest(&local(&fresh), "じゅうみんの あいことば")
        .await;
    let p = desk.get(&sheet).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), Some(format!("/staff/guests/{guest}")));
}
