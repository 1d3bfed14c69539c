//! The audit trail (SECURITY G2–G5).

use crate::helpers::*;
use madoguchi::audit::{self, Verdict};

#[tokio::test]
async fn g2_records_carry_time_actor_action_target_outcome_source_and_request_id() {
    // SECURITY G2
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    admin.agent.get("/staff/departments").await;
    let res = admin
        .agent
        .client
        .post(admin.agent.url("/staff/departments"))
        .form(&[("csrf", admin.agent.csrf().as_str()), ("name", "監査課")])
        .send()
        .await
        .expect("post");
    let request_id = res.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    let rec = app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "department.add")
        .expect("department.add recorded");
    assert_eq!(rec.at, app.now());
    assert_eq!(rec.actor_kind, "clerk");
    let admin_id: String = sqlx::query_scalar("select account_id from account")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("id");
    assert_eq!(rec.actor_id.as_deref(), Some(admin_id.as_str()));
    assert!(rec.target.is_some());
    assert_eq!(rec.outcome, "success");
    assert_eq!(rec.source.as_deref(), Some("127.0.0.1"));
    assert_eq!(rec.request_id.as_deref(), Some(request_id.as_str()));
    // Failed sign-ins are recorded with their factor.
    app.password_step(ADMIN_EMAIL, "not the password").await;
    let rec = app.audit().await.pop().expect("record");
    assert_eq!(
        (rec.action.as_str(), rec.outcome.as_str()),
        ("sign_in.password", "failure")
    );
    assert_eq!(rec.actor_kind, "claimed");
}

#[tokio::test]
async fn g3_no_password_code_secret_token_or_session_id_is_recorded() {
    // SECURITY G3
    let app = spawn_app().await;
    let token = app
        .bootstrap_link
        .clone()
        .expect("link")
        .rsplit('/')
        .next()
        .expect("t")
        .to_string();
    let admin = app.setup_admin().await;
    let (agent, _) = app.password_step(ADMIN_EMAIL, "wrong password typed").await;
    let _ = agent;
    let (agent, _) = app.password_step(&admin.email, &admin.password).await;
    agent
        .post("/staff/signin/code", &[("code", "987654")])
        .await;
    app.next_step();
    let code = app.code(&admin.secret);
    agent.post("/staff/signin/code", &[("code", &code)]).await;
    let cookie = agent.cookie_header();
    let session_id = cookie
        .split('=')
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let key = madoguchi::auth::totp::display_key(&admin.secret).replace(' ', "");
    let everything: String = app
        .audit()
        .await
        .iter()
        .map(|r| format!("{r:?}\n"))
        .collect();
    let logs = captured_logs();
    for secret in [
        ADMIN_PASSWORD,
        "wrong password typed",
        "987654",
        code.as_str(),
        token.as_str(),
        key.as_str(),
        session_id.as_str(),
    ] {
        assert!(secret.len() >= 6, "{secret:?} is worth looking for");
        assert!(!everything.contains(secret), "audit holds {secret}");
        if let Some(i) = logs.find(secret) {
            panic!(
                "logs hold {secret}: {}",
                &logs[i.saturating_sub(300)..(i + 100).min(logs.len())]
            );
        }
    }
}

#[tokio::test]
async fn g4_the_database_refuses_to_update_or_delete_audit_records() {
    // SECURITY G4
    let app = spawn_app().await;
    app.setup_admin().await;
    let update = sqlx::query("update audit_event set outcome = 'failure' where seq = 1")
        .execute(&app.state.db.pool)
        .await;
    assert!(update.is_err(), "UPDATE refused");
    let delete = sqlx::query("delete from audit_event where seq = 1")
        .execute(&app.state.db.pool)
        .await;
    assert!(delete.is_err(), "DELETE refused");
    assert!(matches!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Intact { records } if records >= 5
    ));
}

#[tokio::test]
async fn g4_verify_reports_the_first_record_edited_by_hand() {
    // SECURITY G4: someone with database access drops the trigger and edits record 3.
    let app = spawn_app().await;
    app.setup_admin().await;
    let drop = if on_postgres() {
        "drop trigger audit_event_no_update on audit_event"
    } else {
        "drop trigger audit_event_no_update"
    };
    sqlx::query(drop)
        .execute(&app.state.db.pool)
        .await
        .expect("drop trigger");
    sqlx::query("update audit_event set outcome = 'denied' where seq = 3")
        .execute(&app.state.db.pool)
        .await
        .expect("edit");
    assert_eq!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Broken {
            seq: 3,
            reason: "its content does not match its hash".into()
        }
    );
    // The operator's command says the same and exits 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["audit", "verify"])
        .env("MADOGUCHI_DATA_DIR", app.dir.path())
        .env("MADOGUCHI_DATABASE_URL", &app.database_url)
        .output()
        .expect("run madoguchi");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at record 3"), "{stdout}");
}

#[tokio::test]
async fn g4_the_verify_command_reports_ok_with_the_count() {
    // SECURITY G4
    let app = spawn_app().await;
    app.setup_admin().await;
    let n = app.audit().await.len();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["audit", "verify"])
        .env("MADOGUCHI_DATA_DIR", app.dir.path())
        .env("MADOGUCHI_DATABASE_URL", &app.database_url)
        .output()
        .expect("run madoguchi");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.trim(), format!("OK: {n} records, chain intact"));
}

#[tokio::test]
async fn g4_concurrent_writers_never_fork_the_chain() {
    // SECURITY G4
    let app = spawn_app().await;
    let source = audit::Source::default();
    let mut tasks = vec![];
    for i in 0..20 {
        let db = app.state.db.clone();
        let source = source.clone();
        tasks.push(tokio::spawn(async move {
            audit::record_alone(
                &db,
                START + i,
                &source,
                &audit::Event::new(
                    audit::Actor::System,
                    "test.parallel",
                    audit::Outcome::Success,
                ),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("record");
    }
    assert!(matches!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Intact { records } if records == app.audit().await.len() as i64
    ));
}

#[tokio::test]
async fn g5_when_the_audit_write_fails_the_action_fails_with_it() {
    // SECURITY G5
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    admin.agent.get("/staff/departments").await;
    // Break the audit writer: its chain head is gone.
    sqlx::query("delete from audit_head")
        .execute(&app.state.db.pool)
        .await
        .expect("break head");
    let p = admin
        .agent
        .post("/staff/departments", &[("name", "記録できない課")])
        .await;
    assert_eq!(p.status, 500);
    assert_eq!(app.scalar("select count(*) from department").await, 0);
}

/// Runs `madoguchi audit …` against the app's data directory and database.
fn audit_command(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .arg("audit")
        .args(args)
        .env("MADOGUCHI_DATA_DIR", app.dir.path())
        .env("MADOGUCHI_DATABASE_URL", &app.database_url)
        .output()
        .expect("run madoguchi");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What someone with database access does first: lift the append-only triggers.
async fn lift_triggers(app: &TestApp) {
    let drops: &[&str] = if on_postgres() {
        &["drop trigger audit_event_no_update on audit_event"]
    } else {
        &[
            "drop trigger audit_event_no_update",
            "drop trigger audit_event_no_delete",
        ]
    };
    for d in drops {
        sqlx::query(d)
            .execute(&app.state.db.pool)
            .await
            .expect("drop trigger");
    }
}

async fn some_records(app: &TestApp, n: i64) {
    for i in 0..n {
        audit::record_alone(
            &app.state.db,
            app.now() + i,
            &audit::Source::default(),
            &audit::Event::new(audit::Actor::System, "test.filler", audit::Outcome::Success),
        )
        .await
        .expect("record");
    }
}

#[tokio::test]
async fn g4_a_chain_rewritten_with_every_hash_recomputed_is_caught_by_a_signed_checkpoint() {
    // SECURITY G4: the operator edits record 3 and recomputes every hash after it, so the chain
    // alone looks intact; the checkpoint signed outside the database does not agree.
    let app = spawn_app().await;
    app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let (head_seq, _) = audit::head(&app.state.db).await.expect("head");
    lift_triggers(&app).await;
    let mut prev = String::new();
    for mut rec in app.audit().await {
        if rec.seq == 3 {
            rec.outcome = "denied".into();
        }
        if rec.seq >= 3 {
            rec.prev_hash = prev.clone();
            rec.hash = rec.compute_hash();
            sqlx::query(
                "update audit_event set outcome = $1, prev_hash = $2, hash = $3 where seq = $4",
            )
            .bind(&rec.outcome)
            .bind(&rec.prev_hash)
            .bind(&rec.hash)
            .bind(rec.seq)
            .execute(&app.state.db.pool)
            .await
            .expect("rewrite");
        }
        prev = rec.hash.clone();
    }
    sqlx::query("update audit_head set last_hash = $1 where audit_head_id = 1")
        .bind(&prev)
        .execute(&app.state.db.pool)
        .await
        .expect("head");
    assert!(matches!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Intact { .. }
    ));
    let (code, stdout, _) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN at record {head_seq}"))
            && stdout.contains("differs from the checkpoint"),
        "{stdout}"
    );
}

#[tokio::test]
async fn g4_a_database_put_back_to_an_earlier_copy_is_named_by_verify() {
    // SECURITY G4: records written after a checkpoint vanish with an old copy of the database.
    let app = spawn_app().await;
    app.setup_admin().await;
    let (kept, kept_hash) = audit::head(&app.state.db).await.expect("head");
    some_records(&app, 5).await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let (code, stdout, _) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(0), "{stdout}");
    // The old copy: the last five records gone, the head as it was then.
    lift_triggers(&app).await;
    sqlx::query("delete from audit_event where seq > $1")
        .bind(kept)
        .execute(&app.state.db.pool)
        .await
        .expect("delete");
    sqlx::query("update audit_head set seq = $1, last_hash = $2 where audit_head_id = 1")
        .bind(kept)
        .bind(&kept_hash)
        .execute(&app.state.db.pool)
        .await
        .expect("head");
    assert!(matches!(
        audit::verify(&app.state.db).await.expect("verify"),
        Verdict::Intact { .. }
    ));
    let (code, stdout, _) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN at record {}", kept + 1))
            && stdout.contains("rolled back"),
        "{stdout}"
    );
}

#[tokio::test]
async fn g4_a_checkpoint_log_edited_by_hand_fails_its_signature_check() {
    // SECURITY G4
    let app = spawn_app().await;
    app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let log = app.state.config.audit_checkpoints.clone();
    // The log holds the start's checkpoint and this one; the first line is edited.
    let text = std::fs::read_to_string(&log).expect("log");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cp: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    cp["seq"] = serde_json::json!(cp["seq"].as_i64().expect("seq") - 1);
    lines[0] = cp.to_string();
    std::fs::write(&log, format!("{}\n", lines.join("\n"))).expect("edit log");
    let (code, stdout, _) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("BROKEN checkpoint log") && stdout.contains("line 1"),
        "{stdout}"
    );
}

#[tokio::test]
async fn g4_an_auditor_checks_an_exported_trail_with_the_public_key_alone() {
    // SECURITY G4: the trail, the checkpoint log and the public key leave the city's hands;
    // the auditor's check reads no configuration and needs no running portal.
    let app = spawn_app().await;
    app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let (code, key, _) = audit_command(&app, &["public-key"]);
    assert_eq!(code, Some(0));
    let (code, trail, _) = audit_command(&app, &["export"]);
    assert_eq!(code, Some(0));
    let n = app.audit().await.len();
    assert_eq!(trail.lines().count(), n);
    let desk = tempfile::tempdir().expect("auditor's folder");
    let trail_path = desk.path().join("trail.jsonl");
    let log_path = desk.path().join("checkpoints.jsonl");
    std::fs::write(&trail_path, &trail).expect("trail");
    std::fs::copy(&app.state.config.audit_checkpoints, &log_path).expect("log");
    let auditor = |trail: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
            .current_dir(desk.path())
            .env_clear()
            .args(["audit", "verify", "--public-key", key.trim()])
            .arg("--trail")
            .arg(trail)
            .arg("--checkpoints")
            .arg(&log_path)
            .output()
            .expect("run madoguchi");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = auditor(&trail_path);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout.trim(), format!("OK: {n} records, chain intact"));
    assert!(
        !desk.path().join("data").exists(),
        "the auditor's check wrote a data folder"
    );
    // One record of the export changed: the auditor sees which.
    let edited = trail.replacen("\"success\"", "\"failure\"", 1);
    let edited_path = desk.path().join("edited.jsonl");
    std::fs::write(&edited_path, edited).expect("edited");
    let (code, stdout) = auditor(&edited_path);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at record"), "{stdout}");
}

/// A portal whose witness is a mailbox (the outbox here, as the auditor's mail client saves
/// them) and, when `url` is given, an HTTP endpoint.
async fn witnessed_app(url: Option<String>) -> TestApp {
    spawn_app_with(Options {
        witness_email: Some("kansa@city.example.jp".into()),
        witness_url: url,
        ..Options::default()
    })
    .await
}

/// An HTTP witness on loopback that keeps every checkpoint POSTed to it, one JSON line each.
async fn http_witness() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let store = kept.clone();
    let app = axum::Router::new().route(
        "/checkpoints",
        axum::routing::post(move |body: String| {
            let store = store.clone();
            async move {
                store.lock().expect("witness").push(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("witness port");
    let url = format!(
        "http://{}/checkpoints",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, kept)
}

/// Rolls the database back to its state at record `kept`, as an old copy put back would be.
async fn roll_back(app: &TestApp, kept: i64, kept_hash: &str) {
    lift_triggers(app).await;
    sqlx::query("delete from audit_event where seq > $1")
        .bind(kept)
        .execute(&app.state.db.pool)
        .await
        .expect("delete");
    sqlx::query("update audit_head set seq = $1, last_hash = $2 where audit_head_id = 1")
        .bind(kept)
        .bind(kept_hash)
        .execute(&app.state.db.pool)
        .await
        .expect("head");
}

fn log_lines(app: &TestApp) -> Vec<audit::checkpoint::Checkpoint> {
    std::fs::read_to_string(&app.state.config.audit_checkpoints)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("checkpoint"))
        .collect()
}

fn write_log(app: &TestApp, cps: &[audit::checkpoint::Checkpoint]) {
    let text: String = cps
        .iter()
        .map(|c| format!("{}\n", serde_json::to_string(c).expect("json")))
        .collect();
    std::fs::write(&app.state.config.audit_checkpoints, text).expect("log");
}

#[tokio::test]
async fn g7_checkpoints_are_chained_taken_at_start_and_mailed_to_the_witness() {
    // SECURITY G7
    let app = witnessed_app(None).await;
    let started = log_lines(&app);
    assert_eq!(started.len(), 1, "a checkpoint is taken at start");
    assert_eq!(started[0].prev.as_deref(), Some(audit::checkpoint::GENESIS));
    let admin = app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let cps = log_lines(&app);
    assert_eq!(cps.len(), 2);
    assert_eq!(cps[1].prev.as_deref(), Some(cps[0].digest().as_str()));
    // Both reached the witness's mailbox, and the admin home says nothing of a missing witness.
    let mails: Vec<_> = app
        .mails()
        .into_iter()
        .filter(|m| m.to == "kansa@city.example.jp")
        .collect();
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1]
            .text
            .contains(&serde_json::to_string(&cps[1]).expect("json"))
    );
    assert!(
        !admin
            .agent
            .get("/staff")
            .await
            .body
            .contains("id=\"no-witness\"")
    );
    let (code, stdout, _) = audit_command(
        &app,
        &[
            "verify",
            "--witness",
            &app.dir.path().join("outbox").display().to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}");
}

#[tokio::test]
async fn g7_without_a_witness_the_admin_home_and_verify_say_what_the_trail_cannot_catch() {
    // SECURITY G7
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let home = admin.agent.get("/staff").await;
    assert!(
        html_unescape(&home.main()).contains("サーバーの管理者が巻き戻したり"),
        "{}",
        home.main()
    );
    // A clerk is not the one to act on it.
    let dept = app.add_department(&admin.agent, "総務課").await;
    let link = app
        .add_clerk(&admin.agent, "c@city.example.jp", "担当 職員", &dept)
        .await;
    let clerk = app
        .enrol(&link, None, "c@city.example.jp", "担当職員の長い合言葉です")
        .await;
    assert!(!clerk.agent.get("/staff").await.body.contains("no-witness"));
    let (code, stdout, stderr) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stderr.contains("No witness copy given"), "{stderr}");
}

#[tokio::test]
async fn g7_a_deleted_or_emptied_checkpoint_log_fails_verify_with_and_without_a_witness() {
    // SECURITY G7
    let app = witnessed_app(None).await;
    app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let outbox = app.dir.path().join("outbox").display().to_string();
    let log = app.state.config.audit_checkpoints.clone();
    for emptied in [true, false] {
        if emptied {
            std::fs::write(&log, "").expect("empty the log");
        } else {
            std::fs::remove_file(&log).expect("delete the log");
        }
        let (code, stdout, _) = audit_command(&app, &["verify"]);
        assert_eq!(code, Some(1), "{stdout}");
        assert!(stdout.contains("holds no checkpoint"), "{stdout}");
        let (code, stdout, _) = audit_command(&app, &["verify", "--witness", &outbox]);
        assert_eq!(code, Some(1), "{stdout}");
        assert!(
            stdout.contains("in the witness's copy but not in the checkpoint log"),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn g7_a_rollback_with_the_log_cut_back_to_match_is_named_only_by_the_witness() {
    // SECURITY G7
    let app = witnessed_app(None).await;
    app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    let (kept, kept_hash) = audit::head(&app.state.db).await.expect("head");
    let kept_lines = log_lines(&app);
    some_records(&app, 5).await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    // The operator puts back the earlier database and cuts the log back to match.
    roll_back(&app, kept, &kept_hash).await;
    write_log(&app, &kept_lines);
    // Without the witness's copy it cannot be seen: the trail and the log agree.
    let (code, stdout, _) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(0), "{stdout}");
    // The witness's mails name it.
    let outbox = app.dir.path().join("outbox").display().to_string();
    let (code, stdout, _) = audit_command(&app, &["verify", "--witness", &outbox]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("checkpoint of record {}", kept + 5))
            && stdout.contains("cut back"),
        "{stdout}"
    );
}

#[tokio::test]
async fn g7_a_chain_rewritten_and_re_signed_with_the_servers_key_is_named_by_the_witness() {
    // SECURITY G7
    let (url, received) = http_witness().await;
    let app = witnessed_app(Some(url)).await;
    app.setup_admin().await;
    madoguchi::web::server::checkpoint_now(&app.state, true)
        .await
        .expect("checkpoint");
    // The operator rewrites record 3, recomputes every hash after it...
    lift_triggers(&app).await;
    let mut prev = String::new();
    for mut rec in app.audit().await {
        if rec.seq == 3 {
            rec.outcome = "denied".into();
        }
        if rec.seq >= 3 {
            rec.prev_hash = prev.clone();
            rec.hash = rec.compute_hash();
            sqlx::query(
                "update audit_event set outcome = $1, prev_hash = $2, hash = $3 where seq = $4",
            )
            .bind(&rec.outcome)
            .bind(&rec.prev_hash)
            .bind(&rec.hash)
            .bind(rec.seq)
            .execute(&app.state.db.pool)
            .await
            .expect("rewrite");
        }
        prev = rec.hash.clone();
    }
    sqlx::query("update audit_head set last_hash = $1 where audit_head_id = 1")
        .bind(&prev)
        .execute(&app.state.db.pool)
        .await
        .expect("head");
    // ...and re-signs every checkpoint with the key that lies beside the database.
    let mut resigned: Vec<audit::checkpoint::Checkpoint> = vec![];
    let records = app.audit().await;
    for cp in log_lines(&app) {
        let hash = records
            .iter()
            .find(|r| r.seq == cp.seq)
            .map(|r| r.hash.clone())
            .unwrap_or(cp.hash.clone());
        let prev = resigned
            .last()
            .map_or_else(|| audit::checkpoint::GENESIS.to_string(), |c| c.digest());
        resigned.push(app.state.audit_signer.sign(cp.seq, &hash, cp.at, &prev));
    }
    write_log(&app, &resigned);
    let (code, stdout, _) = audit_command(&app, &["verify"]);
    assert_eq!(code, Some(0), "without a witness it passes: {stdout}");
    // The endpoint's copy, as the city's log system keeps it, names it.
    let copy = app.dir.path().join("witness.jsonl");
    let lines = received.lock().expect("witness").join("\n");
    assert_eq!(
        lines.lines().count(),
        2,
        "the start's checkpoint and the one taken"
    );
    std::fs::write(&copy, lines).expect("copy");
    let (code, stdout, _) =
        audit_command(&app, &["verify", "--witness", &copy.display().to_string()]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("re-signed"), "{stdout}");
}
