//! The write path under failure (SECURITY G5): page views' records are group-committed, yet
//! every request that got an answer has its record after a crash, and a batch that cannot
//! commit fails every request in it.

use madoguchi::audit::{self, Verdict};

use crate::helpers::*;

/// A guest enrolled in a channel, and the channel's page path.
async fn guest_with_channel(app: &TestApp) -> (GuestPerson, String) {
    let (_admin, clerk, _) = app
        .clerk_with_department("防災危機管理課", "bousai@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "避難所 連絡", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &channel,
            "避難所 担当",
            "shelter@school.example.jp",
            "post",
            10,
        )
        .await;
    let guest = app.enrol_guest(&link, "避難所担当の長い合言葉").await;
    (guest, format!("/c/{channel}"))
}

#[tokio::test]
async fn g5_a_batch_that_cannot_commit_fails_every_page_view_in_it() {
    // SECURITY G5
    let app = spawn_app().await;
    let (guest, page) = guest_with_channel(&app).await;
    let agent = app.guest_sign_in(&guest).await;
    assert_eq!(agent.get(&page).await.status, 200);
    // The audit writer cannot append any more: its chain head is gone.
    sqlx::query("delete from audit_head")
        .execute(&app.state.db.pool)
        .await
        .expect("break head");
    let views: Vec<_> = (0..12).map(|_| agent.get(&page)).collect();
    let statuses: Vec<u16> = futures::future::join_all(views)
        .await
        .into_iter()
        .map(|p| p.status)
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 500),
        "a view answered without its record: {statuses:?}"
    );
}

/// Starts the portal binary on the app's data and database; returns it and its address.
fn start_binary(app: &TestApp) -> (std::process::Child, String) {
    let (child, port) = spawn_portal(app.dir.path(), &app.database_url);
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn g5_after_kill_9_every_answered_page_view_and_post_has_its_record() {
    // SECURITY G5: the portal is killed without warning in the middle of a load of page views
    // and posts; every request that got a 2xx or 303 answer is in the trail after a restart.
    let app = spawn_app().await;
    let (guest, page) = guest_with_channel(&app).await;
    // The binary runs on the real clock; the test app's moved clock used a later TOTP step.
    sqlx::query("update account set totp_last_step = 0")
        .execute(&app.state.db.pool)
        .await
        .expect("reset steps");
    let (mut child, base) = start_binary(&app);
    let agent = Agent::new(&base);
    agent.get("/signin").await;
    let p = agent
        .post(
            "/signin",
            &[
                ("email", guest.sign_in_name.as_str()),
                ("password", guest.password.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let code = madoguchi::auth::totp::code_at(&guest.secret, real_now).expect("code");
    let p = agent.post("/signin/code", &[("code", code.as_str())]).await;
    assert_eq!(p.status, 303, "{}", p.main());
    // The session's form token, as a page shows it after sign-in.
    assert_eq!(agent.get(&page).await.status, 200);
    let agent = std::sync::Arc::new(agent);
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut load = vec![];
    for worker in 0..8 {
        let agent = agent.clone();
        let page = page.clone();
        let answered = answered.clone();
        load.push(tokio::spawn(async move {
            for i in 0.. {
                let res = if i % 4 == 3 {
                    let body = format!("作業員 {worker} の報告 {i}");
                    agent
                        .client
                        .post(agent.url(&format!("{page}/messages")))
                        .form(&[("csrf", agent.csrf().as_str()), ("body", body.as_str())])
                        .send()
                        .await
                } else {
                    agent.client.get(agent.url(&page)).send().await
                };
                let Ok(res) = res else { break };
                let ok = res.status().is_success() || res.status().as_u16() == 303;
                if let (true, Some(id)) = (ok, res.headers().get("x-request-id")) {
                    let id = id.to_str().unwrap_or_default().to_string();
                    answered.lock().expect("lock").push(id);
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("kill -9");
    let _ = child.wait();
    for l in load {
        let _ = l.await;
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() > 20, "too little load: {}", answered.len());
    // Restarted, the portal finds every answered request in the trail.
    let (mut again, _) = start_binary(&app);
    let recorded: Vec<String> =
        sqlx::query_scalar("select request_id from audit_event where request_id is not null")
            .fetch_all(&app.state.db.pool)
            .await
            .expect("request ids");
    let recorded: std::collections::HashSet<String> = recorded.into_iter().collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} answered requests have no record",
        missing.len()
    );
    assert!(matches!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Intact { .. }
    ));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &again.id().to_string()])
        .status();
    let _ = again.wait();
}

#[tokio::test]
async fn g5_a_batch_larger_than_one_insert_keeps_every_record_in_chain_order() {
    // SECURITY G5: a batch's records go in multi-row inserts of at most 32; 70 records (three
    // inserts) all land, in order, and the chain checks.
    let app = spawn_app().await;
    let before = app.audit().await.len();
    let events: Vec<audit::Event> = (0..70)
        .map(|i| {
            audit::Event::new(
                audit::Actor::System,
                "channel.view",
                audit::Outcome::Success,
            )
            .target(format!("record-{i}"))
        })
        .collect();
    let source = audit::Source::default();
    let now = app.state.now();
    let items: Vec<_> = events.iter().map(|e| (now, &source, e)).collect();
    let mut tx = app.state.db.begin().await.expect("begin");
    audit::append(&mut tx, &items).await.expect("append");
    tx.commit().await.expect("commit");
    let rows = app.audit().await;
    assert_eq!(rows.len(), before + 70);
    let targets: Vec<String> = rows[before..]
        .iter()
        .map(|r| r.target.clone().unwrap_or_default())
        .collect();
    let expected: Vec<String> = (0..70).map(|i| format!("record-{i}")).collect();
    assert_eq!(targets, expected);
    assert!(matches!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Intact { records } if records == (before + 70) as i64
    ));
}
