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

#[tokio::test]
async fn sign_in_ids_and_addresses_are_matched_the_way_people_type_them() {
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
    assert_eq!(p.status, 303);
    let p = clerk.agent.get(&p.location().expect("to the sheet")).await;
    let link = p.text_of_id("invite-link").expect("link");
    let id = p.text_of_id("sign-in-name").expect("id");
    app.enrol_guest(&link, "じゅうみんの あいことば").await;
    // An e-mail guest, invited with an address typed in full-width letters.
    clerk.agent.get(&format!("/staff/channels/{channel}")).await;
    let p = clerk
        .agent
        .post(
            &format!("/staff/channels/{channel}/guests/new"),
            &[
                ("name", "病院 花子"),
                ("organisation", "市立病院"),
                ("kind", "hospital"),
                (
                    "email",
                    "ｈａｎａｋｏ＠Ｈｏｓｐｉｔａｌ．ｅｘａｍｐｌｅ．ｊｐ",
                ),
                ("permission", "post"),
                ("expires_on", &expires),
                ("delivery", "email"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let mail = app
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.to == "hanako@hospital.example.jp")
        .expect("the invitation goes to the address as it is meant");
    let mail_link = invite_link_in(&mail.text).expect("link");
    app.enrol_guest(&mail_link, "はなこの長い合言葉です").await;

    let full_width: String = id
        .chars()
        .map(|c| match c {
            '-' => '－',
            c => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
        })
        .collect();
    let bare = id.replace('-', "");
    let long_vowel = id.replace('-', "ー");
    let upper = id.to_uppercase().replace('-', " ");
    let cases: Vec<(String, &str, u16)> = vec![
        (id.clone(), "じゅうみんの あいことば", 303),
        (full_width, "じゅうみんの あいことば", 303),
        (bare, "じゅうみんの あいことば", 303),
        (long_vowel, "じゅうみんの あいことば", 303),
        (upper, "じゅうみんの あいことば", 303),
        (id.replace('r', "x"), "じゅうみんの あいことば", 422),
        (
            "hanako@hospital.example.jp".into(),
            "はなこの長い合言葉です",
            303,
        ),
        (
            " HANAKO@hospital.example.jp ".into(),
            "はなこの長い合言葉です",
            303,
        ),
        (
            "ｈａｎａｋｏ＠ｈｏｓｐｉｔａｌ．ｅｘａｍｐｌｅ．ｊｐ".into(),
            "はなこの長い合言葉です",
            303,
        ),
        ("hanako@hospital.example.jp".into(), "違う合言葉です", 422),
    ];
    for (typed, password, status) in cases {
        let (_agent, p) = app.guest_password_step(&typed, password).await;
        assert_eq!(p.status, status, "{typed:?}: {}", p.main());
    }
}

#[tokio::test]
async fn a_guest_whose_access_ended_is_told_why_and_whom_to_ask_after_the_right_password() {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let mut people = vec![];
    for email in [
        "revoked@example.jp",
        "expired@example.jp",
        "open@example.jp",
    ] {
        let link = app
            .invite_guest(&clerk.agent, &channel, "病院 職員", email, "post", 30)
            .await;
        people.push(app.enrol_guest(&link, "病院職員の長い合言葉です").await);
    }
    // One who set a password but never registered the authenticator.
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "途中 さん",
            "halfway@example.jp",
            "post",
            30,
        )
        .await;
    let halfway = app.agent();
    halfway.get(&link).await;
    let p = halfway
        .post(
            &link,
            &[
                ("password", "途中さんの長い合言葉です"),
                ("password_confirm", "途中さんの長い合言葉です"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    // An open session of the third guest, to be ended by the clerk later.
    let open = app.guest_sign_in(&people[2]).await;
    let code = app.code(&people[2].secret);
    open.post("/signin/code", &[("code", code.as_str())]).await;
    assert_eq!(open.get(&format!("/c/{channel}")).await.status, 200);

    let revoked_id = app.guest_id("revoked@example.jp").await;
    clerk
        .agent
        .get(&format!("/staff/guests/{revoked_id}"))
        .await;
    clerk
        .agent
        .post(
            &format!("/staff/guests/{revoked_id}/revoke"),
            &[("reason", "契約終了"), ("confirm", "yes")],
        )
        .await;
    sqlx::query("update guest set expires_at = $1 where account_id = $2")
        .bind(app.now() - 60)
        .bind(app.guest_id("expired@example.jp").await)
        .execute(&app.state.db.pool)
        .await
        .expect("expire");

    for (name, password, says) in [
        (
            "revoked@example.jp",
            "病院職員の長い合言葉です",
            "担当者があなたの利用を終了した",
        ),
        (
            "expired@example.jp",
            "病院職員の長い合言葉です",
            "利用できる期間が終わった",
        ),
        (
            "halfway@example.jp",
            "途中さんの長い合言葉です",
            "設定（認証アプリの登録）がまだ終わっていない",
        ),
    ] {
        let (_agent, p) = app.guest_password_step(name, password).await;
        assert_eq!(p.status, 403, "{name}: {}", p.main());
        let main = html_unescape(&p.main());
        assert!(main.contains(says), "{name}: {main}");
        assert!(
            main.contains("担当 職員（地域医療課）"),
            "whom to ask: {main}"
        );
        // A wrong password still gets the one generic answer.
        let (_agent, p) = app.guest_password_step(name, "違う合言葉です").await;
        assert_eq!(p.status, 422, "{name}");
        assert!(!p.main().contains("ご利用が終わっています"));
    }

    // The clerk ends the open session's access: its next page says so instead of a bare form.
    let open_id = app.guest_id("open@example.jp").await;
    clerk.agent.get(&format!("/staff/guests/{open_id}")).await;
    clerk
        .agent
        .post(
            &format!("/staff/guests/{open_id}/revoke"),
            &[("reason", "担当交代"), ("confirm", "yes")],
        )
        .await;
    let p = open.get(&format!("/c/{channel}")).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location().as_deref(), Some("/signin/ended"));
    let p = open.get("/signin/ended").await;
    assert_eq!(p.status, 403);
    assert!(html_unescape(&p.main()).contains("担当者があなたの利用を終了した"));
    // Shown once; a reload is the ordinary sign-in page.
    assert_eq!(open.get("/signin/ended").await.status, 303);
}
