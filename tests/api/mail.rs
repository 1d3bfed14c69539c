//! Mail through a real SMTP exchange (a sink on a tokio listener) and header safety (E6).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::*;
use madoguchi::mail::{Mail as OutMail, Mailer};

/// A minimal SMTP server: greeting, EHLO, MAIL, RCPT, DATA (dot-unstuffed), QUIT.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r);
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        let _ = w.write_all(b"250-sink\r\n250 8BITMIME\r\n").await;
                    } else if cmd == "DATA" {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        let mut data = Vec::new();
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            let l = line.strip_prefix('.').unwrap_or(&line);
                            data.extend_from_slice(l.as_bytes());
                        }
                        store.lock().expect("store").push(data);
                        let _ = w.write_all(b"250 queued\r\n").await;
                    } else if cmd == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        let _ = w.write_all(b"250 ok\r\n").await;
                    }
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn a_new_clerk_receives_the_setup_link_over_smtp() {
    let (port, received) = smtp_sink().await;
    let mailer = Mailer::plain_smtp(
        "127.0.0.1",
        port,
        "窓口 <madoguchi@city.example.jp>",
        madoguchi::web::mail::render,
    )
    .expect("mailer");
    let app = spawn_app_with(Options {
        mailer: Some(mailer),
        ..Options::default()
    })
    .await;
    let admin = app.setup_admin().await;
    let dept = app.add_department_smtp(&admin.agent, "情報政策課").await;
    admin.agent.get("/staff/clerks").await;
    let p = admin
        .agent
        .post(
            "/staff/clerks",
            &[
                ("email", "smtp@city.example.jp"),
                ("name", "送信 確認"),
                ("role", "clerk"),
                ("department_id", &dept),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let list = admin.agent.get("/staff/clerks").await;
    assert!(list.body.contains("メールで送りました"));
    let raw = received
        .lock()
        .expect("received")
        .pop()
        .expect("one message");
    let mail = Mail::parse(&raw);
    assert_eq!(mail.to, "smtp@city.example.jp");
    assert!(mail.subject.starts_with("窓口アカウントの設定のお願い"));
    assert!(
        mail.raw.contains("=?utf-8?") || mail.raw.contains("=?UTF-8?"),
        "subject RFC 2047-encoded"
    );
    let link = link_in(&mail.text).expect("link");
    assert!(link.starts_with("http://madoguchi.city.example.jp/setup/"));
    app.enrol(
        &link,
        None,
        "smtp@city.example.jp",
        "メールで届いたリンクで設定",
    )
    .await;
}

impl TestApp {
    async fn add_department_smtp(&self, admin: &Agent, name: &str) -> String {
        self.add_department(admin, name).await
    }
}

#[tokio::test]
async fn e6_a_name_with_line_breaks_cannot_add_mail_headers() {
    // SECURITY E6
    let dir = tempfile::tempdir().expect("dir");
    let mailer = Mailer::new(
        &madoguchi::config::MailConfig::Outbox(dir.path().to_path_buf()),
        "Madoguchi <madoguchi@city.example.jp>",
        madoguchi::web::mail::render,
    )
    .expect("mailer");
    let mail = OutMail {
        to_name: "Taro\r\nBcc: victim@evil.example".into(),
        to_email: "taro@city.example.jp".into(),
        content: madoguchi::mail::Content::Plain {
            subject: "Hello\r\nBcc: other@evil.example".into(),
            text: "body".into(),
        },
    };
    let msg = mailer.build(&mail).expect("build");
    let raw = String::from_utf8(msg.formatted()).expect("utf8");
    let headers = &raw[..raw.find("\r\n\r\n").expect("header end")];
    assert!(
        !headers
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{headers}"
    );
    let bad = OutMail {
        to_email: "taro@city.example.jp\r\nBcc: x@evil.example".into(),
        ..mail
    };
    assert!(
        mailer.build(&bad).is_err(),
        "an address with CR/LF is not an address"
    );
}

#[tokio::test]
async fn every_mail_names_the_city_the_project_an_absolute_expiry_and_whom_to_contact() {
    let app = spawn_app_with(Options {
        municipality: Some("窓口市".into()),
        contact_phone: Some("0120-000-000(平日 9時〜17時)".into()),
        contact_email: Some("madoguchi@city.example.lg.jp".into()),
        ..Options::default()
    })
    .await;
    let (_admin, clerk, _) = app
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let channel = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    app.invite_guest(
        &clerk.agent,
        &channel,
        "佐藤 看護師",
        "sato@hospital.example.jp",
        "post",
        30,
    )
    .await;
    let mail = app
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.to == "sato@hospital.example.jp")
        .expect("invitation");
    assert!(
        mail.subject.starts_with("【窓口市】「在宅医療 連携」"),
        "{}",
        mail.subject
    );
    assert!(
        mail.from_name.contains("窓口市"),
        "sender: {}",
        mail.from_name
    );
    // The expiry as a date and time with its weekday, not "72 hours".
    assert!(!mail.text.contains("時間有効"), "{}", mail.text);
    let until = mail
        .text
        .split("リンクは ")
        .nth(1)
        .and_then(|r| r.split(" まで有効").next())
        .expect("until");
    assert!(
        until.contains('年')
            && until.contains("日（")
            && until.contains('時')
            && until.ends_with('分'),
        "{until}"
    );
    assert!(mail.text.contains("0120-000-000(平日 9時〜17時)"));
    assert!(mail.text.contains("madoguchi@city.example.lg.jp"));
    assert!(mail.text.find("窓口市").is_some());
    // The HTML part reads on a phone and has one clear button.
    assert!(mail.html.contains("name=\"viewport\""));
    assert_eq!(
        mail.html.matches("display:inline-block").count(),
        2,
        "one per language"
    );
    assert!(mail.html.contains("tel:0120-000-000"));
}
