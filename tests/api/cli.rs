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
