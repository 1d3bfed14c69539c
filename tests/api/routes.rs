//! Every route with every actor (SECURITY D1, D3): who gets the page, who is sent to sign in,
//! and who gets the same not-found as for a missing id — with the refusal audited. A route
//! added to the application but not to this table fails the test.

use std::collections::BTreeSet;

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Anyone may reach it (sign-in pages, links, language).
    Public,
    /// Any signed-in, current guest; nobody else.
    Guest,
    /// A current guest of the channel in the path; other guests get 404.
    GuestChannel,
    /// Any signed-in clerk.
    Staff,
    /// A clerk of the owning department, or an admin; other clerks get 404.
    StaffScoped,
    /// Admins only; clerks get 404.
    Admin,
    /// Ends the session: run last.
    SignOut,
}

const TABLE: &[(&str, &str, Class)] = &[
    ("GET", "/", Class::Public),
    ("GET", "/staff/signin", Class::Public),
    ("POST", "/staff/signin", Class::Public),
    ("GET", "/staff/signin/code", Class::Public),
    ("POST", "/staff/signin/code", Class::Public),
    ("GET", "/signin", Class::Public),
    ("POST", "/signin", Class::Public),
    ("GET", "/signin/choose", Class::Public),
    ("POST", "/signin/choose", Class::Public),
    ("GET", "/signin/code", Class::Public),
    ("GET", "/signin/ended", Class::Public),
    ("POST", "/signin/code", Class::Public),
    ("GET", "/setup/{token}", Class::Public),
    ("POST", "/setup/{token}", Class::Public),
    ("GET", "/invite/{token}", Class::Public),
    ("POST", "/invite/{token}", Class::Public),
    ("GET", "/setup/authenticator", Class::Public),
    ("POST", "/setup/authenticator", Class::Public),
    ("GET", "/setup/recovery-codes", Class::Public),
    ("GET", "/setup/recovery-codes.txt", Class::Public),
    ("POST", "/lang", Class::Public),
    ("GET", "/channel", Class::Guest),
    ("GET", "/c/{channel}", Class::GuestChannel),
    ("POST", "/c/{channel}/messages", Class::GuestChannel),
    ("POST", "/c/{channel}/files", Class::GuestChannel),
    ("GET", "/c/{channel}/files/{file}", Class::GuestChannel),
    ("GET", "/c/{channel}/live", Class::GuestChannel),
    ("GET", "/c/{channel}/search", Class::GuestChannel),
    (
        "GET",
        "/c/{channel}/messages/{message}",
        Class::GuestChannel,
    ),
    (
        "POST",
        "/c/{channel}/messages/{message}/ack",
        Class::GuestChannel,
    ),
    (
        "POST",
        "/c/{channel}/messages/{message}/edit",
        Class::GuestChannel,
    ),
    ("GET", "/account", Class::Guest),
    ("POST", "/account/notices", Class::Guest),
    ("POST", "/account/extension", Class::Guest),
    ("POST", "/account/sessions/end-others", Class::Guest),
    ("POST", "/account/password", Class::Guest),
    ("POST", "/account/close", Class::Guest),
    ("GET", "/account/authenticator", Class::Guest),
    ("POST", "/account/authenticator", Class::Guest),
    ("POST", "/account/authenticator/confirm", Class::Guest),
    ("GET", "/staff", Class::Staff),
    ("GET", "/staff/channels", Class::Staff),
    ("POST", "/staff/channels", Class::Staff),
    ("GET", "/staff/guests", Class::Staff),
    ("POST", "/staff/notices", Class::Staff),
    ("GET", "/staff/channels/{channel}/live", Class::StaffScoped),
    (
        "GET",
        "/staff/channels/{channel}/search",
        Class::StaffScoped,
    ),
    (
        "GET",
        "/staff/channels/{channel}/messages/{message}",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/messages/{message}/ack",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/messages/{message}/edit",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/messages/{message}/remind",
        Class::StaffScoped,
    ),
    (
        "GET",
        "/staff/channels/{channel}/messages/{message}/people.csv",
        Class::StaffScoped,
    ),
    ("GET", "/staff/channels/{channel}", Class::StaffScoped),
    (
        "POST",
        "/staff/channels/{channel}/messages",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/files",
        Class::StaffScoped,
    ),
    (
        "GET",
        "/staff/channels/{channel}/files/{file}",
        Class::StaffScoped,
    ),
    ("GET", "/staff/channels/{channel}/edit", Class::StaffScoped),
    ("POST", "/staff/channels/{channel}/edit", Class::StaffScoped),
    (
        "GET",
        "/staff/channels/{channel}/archive",
        Class::StaffScoped,
    ),
    (
        "GET",
        "/staff/channels/{channel}/revoke-all",
        Class::StaffScoped,
    ),
    (
        "GET",
        "/staff/channels/{channel}/guests/new",
        Class::StaffScoped,
    ),
    (
        "GET",
        "/staff/channels/{channel}/guests/bulk",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/archive",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/revoke-all",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/guests/new",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/channels/{channel}/guests/bulk",
        Class::StaffScoped,
    ),
    ("GET", "/staff/guests/{guest}", Class::StaffScoped),
    ("POST", "/staff/guests/{guest}/extend", Class::StaffScoped),
    ("GET", "/staff/guests/{guest}/revoke", Class::StaffScoped),
    ("POST", "/staff/guests/{guest}/revoke", Class::StaffScoped),
    ("POST", "/staff/guests/{guest}/reissue", Class::StaffScoped),
    ("GET", "/staff/guests/{guest}/sheet", Class::StaffScoped),
    ("POST", "/staff/guests/{guest}/sheet", Class::StaffScoped),
    (
        "POST",
        "/staff/guests/{guest}/reset-authenticator",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/guests/{guest}/end-sessions",
        Class::StaffScoped,
    ),
    (
        "POST",
        "/staff/extension-requests/{request}/decide",
        Class::StaffScoped,
    ),
    ("GET", "/staff/departments", Class::Admin),
    ("POST", "/staff/departments", Class::Admin),
    ("GET", "/staff/clerks", Class::Admin),
    ("POST", "/staff/clerks", Class::Admin),
    ("POST", "/staff/clerks/{id}/disable", Class::Admin),
    ("POST", "/staff/clerks/{id}/enable", Class::Admin),
    ("POST", "/staff/clerks/{id}/resend", Class::Admin),
    // Withdrawing the clerk's own message goes after everything else that reads it.
    (
        "POST",
        "/c/{channel}/messages/{message}/withdraw",
        Class::GuestChannel,
    ),
    (
        "POST",
        "/staff/channels/{channel}/messages/{message}/withdraw",
        Class::StaffScoped,
    ),
    ("POST", "/signout", Class::SignOut),
    ("POST", "/staff/signout", Class::SignOut),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    TotpPending,
    GuestA,
    GuestB,
    RevokedGuest,
    ExpiredGuest,
    OtherClerk,
    Clerk,
    Admin,
}

const EVERYONE: [Who; 9] = [
    Who::Anonymous,
    Who::TotpPending,
    Who::GuestA,
    Who::GuestB,
    Who::RevokedGuest,
    Who::ExpiredGuest,
    Who::OtherClerk,
    Who::Clerk,
    Who::Admin,
];

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Reached,
    SignIn(&'static str),
    NotFound,
}

fn expect(class: Class, who: Who) -> Expect {
    use Who::*;
    let guest_ok = matches!(who, GuestA | GuestB);
    let staff = matches!(who, OtherClerk | Clerk | Admin);
    match class {
        Class::Public | Class::SignOut => Expect::Reached,
        Class::Guest if guest_ok => Expect::Reached,
        Class::GuestChannel if who == GuestA => Expect::Reached,
        Class::GuestChannel if who == GuestB => Expect::NotFound,
        Class::Guest | Class::GuestChannel => Expect::SignIn("/signin"),
        Class::Staff if staff => Expect::Reached,
        Class::StaffScoped if matches!(who, Clerk | Admin) => Expect::Reached,
        Class::StaffScoped if who == OtherClerk => Expect::NotFound,
        Class::Admin if who == Admin => Expect::Reached,
        Class::Admin if staff => Expect::NotFound,
        // A signed-in guest asking for a clerk function: the ordinary not-found, audited.
        Class::Staff | Class::StaffScoped | Class::Admin if guest_ok => Expect::NotFound,
        Class::Staff | Class::StaffScoped | Class::Admin => Expect::SignIn("/staff/signin"),
    }
}

#[tokio::test]
async fn d1_d3_every_route_answers_every_actor_as_it_should() {
    // SECURITY D1, D3
    let app = spawn_app().await;
    let (admin, clerk, _) = app
        .clerk_with_department("健康課", "clerk@city.example.jp")
        .await;
    let other = app
        .clerk_in_new_department(&admin.agent, "税務課", "other@city.example.jp")
        .await;
    let throwaway = app
        .add_clerk(
            &admin.agent,
            "spare@city.example.jp",
            "予備 職員",
            &app.add_department(&admin.agent, "予備課").await,
        )
        .await;
    let _ = throwaway;
    let spare_id = app.guest_id("spare@city.example.jp").await;
    let a = app.create_channel(&clerk.agent, "案件 A", 60).await;
    let b = app.create_channel(&clerk.agent, "案件 B", 60).await;
    let mut guests = vec![];
    for (channel, email) in [
        (&a, "ga@example.jp"),
        (&b, "gb@example.jp"),
        (&a, "grev@example.jp"),
        (&a, "gexp@example.jp"),
    ] {
        let link = app
            .invite_guest(&clerk.agent, channel, "ゲスト", email, "post_files", 30)
            .await;
        guests.push(app.enrol_guest(&link, "ゲストの長い合言葉").await);
    }
    let ga_id = app.guest_id("ga@example.jp").await;
    guests[0].agent.get("/account").await;
    guests[0]
        .agent
        .post("/account/extension", &[("message", "延長希望")])
        .await;
    let request: String = sqlx::query_scalar("select extension_request_id from extension_request")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("request");
    // One guest revoked by the clerk; one whose time has passed (no sweeper has run).
    let rev_id = app.guest_id("grev@example.jp").await;
    clerk.agent.get(&format!("/staff/guests/{rev_id}")).await;
    clerk
        .agent
        .post(
            &format!("/staff/guests/{rev_id}/revoke"),
            &[("reason", "試験"), ("confirm", "yes")],
        )
        .await;
    sqlx::query("update guest set expires_at = $1 where account_id = $2")
        .bind(app.now() - 1)
        .bind(app.guest_id("gexp@example.jp").await)
        .execute(&app.state.db.pool)
        .await
        .expect("expire one guest");
    let token_link = app
        .invite_guest(&clerk.agent, &a, "未登録", "unused@example.jp", "read", 30)
        .await;
    let token = token_link.rsplit('/').next().expect("token").to_string();
    let (pending, _) = app.password_step(&admin.email, &admin.password).await;
    // A file in channel A, for the download routes.
    clerk.agent.get(&format!("/staff/channels/{a}")).await;
    let p = clerk
        .agent
        .send_file(
            &format!("/staff/channels/{a}/files"),
            "資料.pdf",
            b"%PDF-1.4\n%%EOF\n".to_vec(),
            "",
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let file: String = sqlx::query_scalar("select file_id from attachment")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("file");
    // A message asking for acknowledgement in channel A, for the message routes.
    clerk.agent.get(&format!("/staff/channels/{a}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{a}/messages"),
            &[("body", "確認してください"), ("ack", "1")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let message: String =
        sqlx::query_scalar("select message_id from message where ack_requested = 1")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("message");

    let agents: Vec<(Who, &Agent)> = vec![
        (Who::TotpPending, &pending),
        (Who::GuestA, &guests[0].agent),
        (Who::GuestB, &guests[1].agent),
        (Who::RevokedGuest, &guests[2].agent),
        (Who::ExpiredGuest, &guests[3].agent),
        (Who::OtherClerk, &other.agent),
        (Who::Clerk, &clerk.agent),
        (Who::Admin, &admin.agent),
    ];
    let anonymous = app.agent();

    // Every route of the application is in the table, and every entry is a route.
    let paths: BTreeSet<&str> = madoguchi::router::route_paths().into_iter().collect();
    let listed: BTreeSet<&str> = TABLE.iter().map(|(_, p, _)| *p).collect();
    assert_eq!(paths, listed, "routes and table differ");
    for path in &paths {
        for method in ["GET", "POST"] {
            // A fresh token each time: probing /signout ends the session.
            anonymous.get("/signin").await;
            let probe_token = anonymous.csrf();
            let url = anonymous.url(
                &fill_route(path, &a, &ga_id, &request, &spare_id, &token)
                    .replace("{file}", &file)
                    .replace("{message}", &message),
            );
            let res = anonymous
                .client
                .request(method.parse().expect("method"), url)
                .form(&[("csrf", probe_token.as_str())])
                .send()
                .await
                .expect("probe");
            let answered = res.status().as_u16() != 405;
            let in_table = TABLE.iter().any(|(m, p, _)| m == &method && p == path);
            assert_eq!(
                answered, in_table,
                "{method} {path}: answered {answered}, in table {in_table}"
            );
        }
    }

    let mut order: Vec<_> = TABLE.to_vec();
    order.sort_by_key(|(_, _, c)| *c == Class::SignOut);
    for (method, path, class) in order {
        for who in EVERYONE {
            let agent = match agents.iter().find(|(w, _)| *w == who) {
                Some((_, a)) => *a,
                None => &anonymous,
            };
            // Refresh the agent's CSRF token from a page its session can see.
            agent
                .get(
                    if matches!(who, Who::OtherClerk | Who::Clerk | Who::Admin) {
                        "/staff/signin"
                    } else {
                        "/signin"
                    },
                )
                .await;
            let url = fill_route(path, &a, &ga_id, &request, &spare_id, &token)
                .replace("{file}", &file)
                .replace("{message}", &message);
            let denied_before = denied(&app).await;
            let page = if path.ends_with("/guests/bulk") || path.ends_with("/files") {
                let form = reqwest::multipart::Form::new()
                    .text("csrf", agent.csrf())
                    .text("kind", "hospital");
                let res = agent
                    .client
                    .post(agent.url(&url))
                    .multipart(form)
                    .send()
                    .await
                    .expect("upload");
                Page {
                    status: res.status().as_u16(),
                    headers: res.headers().clone(),
                    body: res.text().await.unwrap_or_default(),
                }
            } else if method == "GET" {
                agent.get(&url).await
            } else {
                agent.post(&url, &[]).await
            };
            let what = format!("{method} {path} as {who:?}");
            assert!(page.status < 500, "{what}: {}", page.status);
            match expect(class, who) {
                // Public pages answer everyone (an unusable link is its own 404 page, A8).
                Expect::Reached if class == Class::Public => {}
                Expect::Reached => {
                    assert!(
                        page.status != 404 && page.status != 403,
                        "{what}: {}",
                        page.status
                    );
                    if page.status == 303 {
                        let to = page.location().unwrap_or_default();
                        assert!(
                            class == Class::Public
                                || class == Class::SignOut
                                || (to != "/signin" && to != "/staff/signin"),
                            "{what}: sent to {to}"
                        );
                    }
                }
                Expect::SignIn(to) => {
                    assert_eq!(page.status, 303, "{what}");
                    // A guest whose access ended is first told so (honest endings), once.
                    let ended = matches!(who, Who::RevokedGuest | Who::ExpiredGuest)
                        && page.location().as_deref() == Some("/signin/ended");
                    assert!(
                        ended || page.location().as_deref() == Some(to),
                        "{what}: {:?}",
                        page.location()
                    );
                }
                Expect::NotFound => {
                    assert_eq!(page.status, 404, "{what}");
                    assert!(
                        page.body.contains("ページが見つかりません"),
                        "{what}: the ordinary not-found page"
                    );
                    assert_eq!(
                        denied(&app).await,
                        denied_before + 1,
                        "{what}: refusal audited"
                    );
                }
            }
        }
    }
    // A guest asking for another channel sees exactly what a missing channel shows.
    let ga = app.guest_sign_in(&guests[0]).await;
    let other_channel = ga.get(&format!("/c/{b}")).await;
    let missing = ga.get("/c/no-such-channel").await;
    assert_eq!(other_channel.status, 404);
    assert_eq!(other_channel.status, missing.status);
    let without_id = |p: &Page| {
        let m = p.main();
        let id = p.header("x-request-id").expect("request id");
        m.replace(&id, "")
    };
    assert_eq!(without_id(&other_channel), without_id(&missing));
    let rec = app
        .audit()
        .await
        .into_iter()
        .rev()
        .find(|r| r.action == "authz.denied")
        .expect("audit");
    assert_eq!(rec.channel_id.as_deref(), Some("no-such-channel"));
}

async fn denied(app: &TestApp) -> usize {
    app.audit()
        .await
        .iter()
        .filter(|r| r.action == "authz.denied")
        .count()
}
