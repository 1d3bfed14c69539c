//! The operator's command line: `clerk add` prints a working one-time link.

use crate::helpers::*;

#[tokio::test]
async fn clerk_add_prints_a_setup_link_that_enrols_the_clerk() {
    // The command runs on the wall clock, so the server does too here.
    use madoguchi::clock::Clock;
    let app = spawn_app_with(Options {
        clock: Some(madoguchi::clock::ManualClock::new(
            madoguchi::clock::SystemClock.now(),
        )),
        ..Options::default()
    })
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args([
            "clerk",
            "add",
            "--email",
            "Cli@City.example.jp",
            "--name",
            "端末 操作",
            "--department",
            "情報政策課",
        ])
        .env("MADOGUCHI_DATA_DIR", app.dir.path())
        .env("MADOGUCHI_DATABASE_URL", &app.database_url)
        .env("MADOGUCHI_PUBLIC_URL", "http://madoguchi.city.example.jp")
        .output()
        .expect("run madoguchi");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = stdout.trim();
    assert!(
        link.starts_with("http://madoguchi.city.example.jp/setup/"),
        "{link}"
    );
    let clerk = app
        .enrol(
            link,
            None,
            "cli@city.example.jp",
            "端末から追加された職員の合言葉",
        )
        .await;
    let home = clerk.agent.get("/staff").await;
    assert!(home.body.contains("情報政策課"));
    let actions = app.actions().await;
    assert!(actions.contains(&"department.add".to_string()));
    assert!(actions.contains(&"clerk.add".to_string()));
    // The bootstrap link printed at start still works: the command issued no new one.
    app.setup_admin().await;
}

#[tokio::test]
async fn unknown_configuration_variables_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["audit", "verify"])
        .env("MADOGUCHI_DATA_DIR", dir.path())
        .env("MADOGUCHI_LISTN", "0.0.0.0:80")
        .output()
        .expect("run madoguchi");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown configuration variable MADOGUCHI_LISTN")
    );
}

#[tokio::test]
async fn sigterm_stops_accepting_finishes_the_request_in_flight_and_exits_zero() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url(dir.path()).await;
    let (mut child, port) = spawn_portal(dir.path(), &database_url);
    let address = format!("127.0.0.1:{port}");
    // A request in flight: the server has read its headers and asked for the body (it answers
    // `Expect: 100-continue` only once a handler starts reading), which has not come yet.
    let mut conn = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    conn.write_all(
        b"POST /staff/signin HTTP/1.1\r\nHost: 127.0.0.1\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\
          Expect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), conn.read(&mut byte))
            .await
            .expect("the server asks for the body")
            .expect("read");
        assert_eq!(n, 1, "closed before asking for the body");
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // New connections are refused once it has stopped accepting.
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "still accepting after SIGTERM");
    // The request in flight still gets its whole answer.
    conn.write_all(b"email=a%40b.jp&password=x1")
        .await
        .expect("the body");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    // On its way out it signed the audit chain's head into the checkpoint log (G4).
    let log = std::fs::read_to_string(dir.path().join("audit-checkpoints.jsonl"))
        .expect("a checkpoint written at shutdown");
    let last: serde_json::Value =
        serde_json::from_str(log.lines().last().expect("a line")).expect("json");
    assert!(
        last["seq"].as_i64().is_some() && last["signature"].is_string(),
        "{last}"
    );
    drop_database(&database_url);
}
