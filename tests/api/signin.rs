//! Staff sign-in with password and TOTP (SECURITY A9, B2–B8, B12, E5).

use std::time::{Duration, Instant};

use futures::future::join;
use madoguchi::auth::totp;

use crate::helpers::*;

#[tokio::test]
async fn b2_the_previous_step_is_accepted_but_two_steps_back_and_the_next_step_are_not() {
    // SECURITY B2
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    app.clock.advance(300);
    let now = app.now();
    let at = |step_offset: i64| totp::code_at(&admin.secret, now + step_offset * 30).expect("c");
    for refused in [at(-2), at(1)] {
        let p = agent
            .post("/staff/signin/code", &[("code", &refused)])
            .await;
        assert_eq!(p.status, 422, "refused");
    }
    // Re-enter the password: the pending state lasts five minutes.
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    let p = agent.post("/staff/signin/code", &[("code", &at(-1))]).await;
    assert_eq!(p.status, 303);
    assert_eq!(agent.get("/staff").await.status, 200);
}

#[tokio::test]
async fn b3_b4_a_code_used_once_is_refused_the_second_time_and_looks_like_a_wrong_code() {
    // SECURITY B3, B4
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    app.next_step();
    let code = app.code(&admin.secret);
    let (first, _) = app.password_step(&admin.email, &admin.password).await;
    assert_eq!(
        first
            .post("/staff/signin/code", &[("code", &code)])
            .await
            .status,
        303
    );
    let (second, _) = app.password_step(&admin.email, &admin.password).await;
    let replay = second.post("/staff/signin/code", &[("code", &code)]).await;
    let (third, _) = app.password_step(&admin.email, &admin.password).await;
    let wrong = third
        .post("/staff/signin/code", &[("code", "000000")])
        .await;
    assert_eq!(replay.status, 422);
    assert_eq!(replay.status, wrong.status);
    assert_eq!(
        replay.main(),
        wrong.main(),
        "a replay looks exactly like a wrong code"
    );
    let actions = app.actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "totp.replay").count(), 1);
    assert_eq!(second.get("/staff").await.status, 303);
}

#[tokio::test]
async fn b3_two_parallel_submissions_of_one_code_make_one_session() {
    // SECURITY B3
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (a, _) = app.password_step(&admin.email, &admin.password).await;
    let (b, _) = app.password_step(&admin.email, &admin.password).await;
    app.next_step();
    let code = app.code(&admin.secret);
    let before = app.scalar("select count(*) from login").await;
    let (ra, rb) = join(
        a.post("/staff/signin/code", &[("code", &code)]),
        b.post("/staff/signin/code", &[("code", &code)]),
    )
    .await;
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [303, 422]);
    assert_eq!(app.scalar("select count(*) from login").await, before + 1);
}

#[tokio::test]
async fn b5_five_wrong_codes_lock_briefly_and_a_new_password_sign_in_does_not_reset_the_count() {
    // SECURITY B5
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    for _ in 0..4 {
        agent
            .post("/staff/signin/code", &[("code", "000000")])
            .await;
    }
    // A fresh password step does not clear the four failures.
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    let p = agent
        .post("/staff/signin/code", &[("code", "000000")])
        .await;
    assert_eq!(p.status, 422);
    app.next_step();
    let p = agent
        .post("/staff/signin/code", &[("code", &app.code(&admin.secret))])
        .await;
    assert_eq!(p.status, 422, "locked: even the right code waits");
    assert!(p.body.contains("しばらく受け付けを止めています"));
    assert!(app.actions().await.contains(&"account.lockout".to_string()));
    app.clock.advance(61);
    app.next_step();
    let p = agent
        .post("/staff/signin/code", &[("code", &app.code(&admin.secret))])
        .await;
    assert_eq!(p.status, 303, "after the lockout the right code works");
    assert_eq!(
        app.scalar("select totp_failures from account").await,
        0,
        "success resets the count"
    );
}

#[tokio::test]
async fn b5_one_hundred_consecutive_failures_lock_the_account_until_an_admin_enables_it() {
    // SECURITY B5
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let dept = app.add_department(&admin.agent, "総務課").await;
    let link = app
        .add_clerk(&admin.agent, "c@city.example.jp", "試験 一郎", &dept)
        .await;
    let clerk = app
        .enrol(&link, None, "c@city.example.jp", "とても長い合言葉 2027")
        .await;
    let mut failures = 0;
    while failures < 100 {
        app.clock.advance(3601);
        let (agent, page) = app.password_step(&clerk.email, &clerk.password).await;
        assert_eq!(page.status, 303);
        for _ in 0..5 {
            agent
                .post("/staff/signin/code", &[("code", "000000")])
                .await;
            failures += 1;
        }
    }
    assert_eq!(
        app.scalar("select count(*) from account where status = 'locked'")
            .await,
        1
    );
    app.clock.advance(24 * 3600);
    let (agent, _) = app.password_step(&clerk.email, &clerk.password).await;
    app.next_step();
    let p = agent
        .post("/staff/signin/code", &[("code", &app.code(&clerk.secret))])
        .await;
    assert!(p.body.contains("管理者に解除を依頼してください"));
    // An admin enables the clerk again.
    let admin_agent = app.sign_in(&admin).await;
    admin_agent.get("/staff/clerks").await;
    let id: String =
        sqlx::query_scalar("select account_id from account where email = 'c@city.example.jp'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("id");
    let p = admin_agent
        .post(&format!("/staff/clerks/{id}/enable"), &[])
        .await;
    assert_eq!(p.status, 303);
    app.sign_in(&clerk).await;
}

#[tokio::test]
async fn b7_unknown_email_and_wrong_password_get_the_same_answer_in_similar_time() {
    // SECURITY B7
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let mut unknown = vec![];
    let mut wrong = vec![];
    let mut pages = vec![];
    for i in 0..4 {
        let t = Instant::now();
        let (_, p) = app
            .password_step("nobody@city.example.jp", "whatever password")
            .await;
        unknown.push(t.elapsed());
        pages.push(p);
        let t = Instant::now();
        let (_, p) = app
            .password_step(&admin.email, &format!("wrong password {i}"))
            .await;
        wrong.push(t.elapsed());
        pages.push(p);
        app.clock.advance(3600); // keep clear of the per-account throttle
    }
    let first = pages[0].main();
    for p in &pages {
        assert_eq!(p.status, 422);
        assert_eq!(
            p.main().replace("nobody@city.example.jp", ADMIN_EMAIL),
            first.replace("nobody@city.example.jp", ADMIN_EMAIL)
        );
    }
    unknown.sort();
    wrong.sort();
    // Both paths run one argon2 verification; without the dummy hash the unknown path would be
    // tens of times faster. The factor of four leaves room for a busy machine.
    let (u, w) = (unknown[2], wrong[2]);
    assert!(u * 4 > w && w * 4 > u, "unknown {u:?} vs wrong {w:?}");
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn b8_b12_after_the_password_only_the_code_form_is_reachable_for_five_minutes() {
    // SECURITY B8, B12
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    for path in ["/staff", "/staff/clerks", "/staff/departments"] {
        let p = agent.get(path).await;
        assert_eq!(p.status, 303, "{path} needs TOTP");
        assert_eq!(p.location().as_deref(), Some("/staff/signin"));
    }
    assert_eq!(agent.get("/staff/signin/code").await.status, 200);
    app.clock.advance(5 * 60 + 1);
    let p = agent.get("/staff/signin/code").await;
    assert_eq!(p.status, 303);
    let p = agent
        .post("/staff/signin/code", &[("code", &app.code(&admin.secret))])
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location().as_deref(), Some("/staff/signin"));
    let p = agent.get("/staff/signin").await;
    assert!(p.body.contains("最初からやり直してください"));
}

#[tokio::test]
async fn a9_sign_in_is_rate_limited_per_address() {
    // SECURITY A9 (per account: see the B5 tests)
    let app = spawn_app().await;
    let agent = app.agent();
    agent.get("/staff/signin").await;
    let mut last = 0;
    for _ in 0..31 {
        last = agent
            .post("/staff/signin", &[("email", "x@y.jp"), ("password", "p")])
            .await
            .status;
    }
    assert_eq!(last, 429);
    let p = agent
        .post("/staff/signin", &[("email", "x@y.jp"), ("password", "p")])
        .await;
    assert!(p.body.contains("1分ほど待って"));
    app.clock.advance(60);
    let p = agent
        .post("/staff/signin", &[("email", "x@y.jp"), ("password", "p")])
        .await;
    assert_eq!(p.status, 422);
}

#[tokio::test]
async fn e5_sql_metacharacters_are_just_data() {
    // SECURITY E5
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (_, p) = app.password_step("' or 1=1 --", "' or '1'='1").await;
    assert_eq!(p.status, 422);
    let (_, p) = app.password_step(&format!("{ADMIN_EMAIL}' --"), "x").await;
    assert_eq!(p.status, 422);
    let name = "x'); drop table account; --";
    app.add_department(&admin.agent, name).await;
    let page = admin.agent.get("/staff/departments").await;
    assert!(
        page.body.contains("x&#x27;); drop table account; --")
            || page.body.contains("x&#39;); drop table account; --")
    );
    assert_eq!(app.scalar("select count(*) from account").await, 1);
}

#[tokio::test]
async fn a_full_width_code_typed_with_spaces_signs_in() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    app.next_step();
    let code = app.code(&admin.secret);
    let wide: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).expect("digit"))
        .collect();
    let typed = format!("{} {}", &wide[..9], &wide[9..]);
    let p = agent.post("/staff/signin/code", &[("code", &typed)]).await;
    assert_eq!(p.status, 303);
}
