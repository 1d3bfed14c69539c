//! Guessing one account's password from many addresses (SECURITY B14, OWASP "device cookies"):
//! tries from browsers that are not a known device for the name share one budget, whatever
//! address they come from; the owner, on a device they signed in on before, is never slowed.

use std::net::{IpAddr, Ipv4Addr};

use crate::helpers::*;

/// The password step from an agent, as a person types it.
async fn try_password(agent: &Agent, email: &str, password: &str) -> Page {
    agent.get("/staff/signin").await;
    agent
        .post("/staff/signin", &[("email", email), ("password", password)])
        .await
}

#[tokio::test]
async fn b14_two_hundred_guesses_from_forty_addresses_are_bounded_and_the_owner_gets_in_at_once() {
    // SECURITY B14
    let app = spawn_app().await;
    let (_admin, owner, _) = app
        .clerk_with_department("健康課", "owner@city.example.jp")
        .await;
    // The owner signs in on their own PC: it becomes a known device for their address.
    let own_pc = app.agent();
    let page = try_password(&own_pc, &owner.email, &owner.password).await;
    assert_eq!(page.status, 303);
    app.next_step();
    let page = own_pc
        .post("/staff/signin/code", &[("code", &app.code(&owner.secret))])
        .await;
    assert_eq!(page.status, 303);
    let set_cookie = page.header("set-cookie").unwrap_or_default();
    assert!(
        set_cookie.contains("madoguchi_device=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    own_pc.post("/staff/signout", &[]).await;
    let mails_before = app.mails().iter().filter(|m| m.to == owner.email).count();

    // Forty addresses, five wrong guesses each, all at once per round.
    let strangers: Vec<Agent> = (1..=40u8)
        .map(|i| Agent::from_address(&app.base, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 1, i)))))
        .collect();
    for round in 0..5 {
        let guesses = strangers.iter().enumerate().map(|(i, s)| {
            let guess = format!("guess-{round}-{i}-password");
            let email = owner.email.clone();
            async move { try_password(s, &email, &guess).await.status }
        });
        let statuses = futures::future::join_all(guesses).await;
        assert!(
            statuses.iter().all(|s| *s == 422 || *s == 429),
            "{statuses:?}"
        );
    }
    let records = app.audit().await;
    let checked = records
        .iter()
        .filter(|r| {
            r.action == "sign_in.password"
                && r.outcome == "failure"
                && r.detail.as_deref() == Some("wrong password")
        })
        .count();
    let refused = records
        .iter()
        .filter(|r| {
            r.action == "sign_in.password"
                && r.outcome == "denied"
                && r.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("unknown devices"))
        })
        .count();
    assert!(checked <= 20, "{checked} guesses were checked");
    assert_eq!(
        checked + refused,
        200,
        "{checked} checked, {refused} refused"
    );
    // The owner is told.
    let told = app.mails().iter().filter(|m| m.to == owner.email).count();
    assert!(told > mails_before, "the owner got no mail");

    // A stranger's new browser, even with the right password, waits.
    let other = Agent::from_address(&app.base, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1))));
    let page = try_password(&other, &owner.email, &owner.password).await;
    assert_eq!(page.status, 429);
    assert!(
        html_unescape(&page.main())
            .contains("以前にサインインしたことのあるスマートフォンやパソコンからは"),
        "{}",
        page.main()
    );
    // The owner on their own PC gets in at once.
    let page = try_password(&own_pc, &owner.email, &owner.password).await;
    assert_eq!(page.status, 303, "{}", page.main());
    assert_eq!(page.location().as_deref(), Some("/staff/signin/code"));
    app.next_step();
    let page = own_pc
        .post("/staff/signin/code", &[("code", &app.code(&owner.secret))])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(own_pc.get("/staff").await.status, 200);
    // An hour after the last guess, a new browser is let try again.
    app.clock.advance(3601);
    let page = try_password(&other, &owner.email, &owner.password).await;
    assert_eq!(page.status, 303, "{}", page.main());
}
