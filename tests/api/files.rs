//! Files in a channel (SECURITY F1–F4, D6, I1): what may be sent, by whom, how it is kept and
//! how it comes back.

use crate::helpers::*;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";

struct Channel {
    app: TestApp,
    clerk: Person,
    id: String,
}

async fn channel(opts: Options) -> Channel {
    let app = spawn_app_with(opts).await;
    let (_admin, clerk, _) = app
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let id = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    Channel { app, clerk, id }
}

impl Channel {
    async fn guest(&self, name: &str, email: &str, permission: &str) -> GuestPerson {
        let link = self
            .app
            .invite_guest(&self.clerk.agent, &self.id, name, email, permission, 30)
            .await;
        let guest = self
            .app
            .enrol_guest(&link, "病院職員の長い合言葉です")
            .await;
        guest.agent.get(&self.page()).await;
        guest
    }
    fn page(&self) -> String {
        format!("/c/{}", self.id)
    }
    fn files(&self) -> String {
        format!("/c/{}/files", self.id)
    }
    /// Files kept in the data directory, and uploads that were never finished.
    fn stored(&self) -> (usize, usize) {
        let dir = self.app.dir.path().join("files");
        let names: Vec<String> = std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let incoming = names.iter().filter(|n| n.starts_with("incoming-")).count();
        (names.len() - incoming, incoming)
    }
}

#[tokio::test]
async fn f4_a_pdf_with_a_japanese_name_is_sent_downloaded_intact_and_both_are_audited() {
    // SECURITY F3, F4
    let c = channel(Options::default()).await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let p = nurse
        .agent
        .send_file(&c.files(), "訪問記録 12月.pdf", PDF.to_vec(), "今週分です")
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    assert_eq!(c.stored(), (1, 0));
    let page = nurse.agent.get(&c.page()).await;
    let main = html_unescape(&page.main());
    assert!(
        main.contains("訪問記録 12月.pdf") && main.contains("今週分です"),
        "{main}"
    );
    let file_id: String = sqlx::query_scalar("select file_id from attachment")
        .fetch_one(&c.app.state.db.pool)
        .await
        .expect("row");
    // Stored under the server-made id, not the name.
    assert!(c.app.dir.path().join("files").join(&file_id).is_file());

    // The clerk downloads it from the staff side; the guest from theirs.
    let staff_link = format!("/staff/channels/{}/files/{file_id}", c.id);
    c.clerk
        .agent
        .get(&format!("/staff/channels/{}", c.id))
        .await;
    for (agent, link) in [
        (&c.clerk.agent, staff_link.clone()),
        (&nurse.agent, format!("{}/{file_id}", c.files())),
    ] {
        let res = agent
            .client
            .get(agent.url(&link))
            .send()
            .await
            .expect("download");
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "application/pdf");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("sandbox")
        );
        let disposition = h["content-disposition"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        let encoded = disposition
            .split("filename*=UTF-8''")
            .nth(1)
            .expect("filename*");
        let name = percent_decode(encoded);
        assert_eq!(name, "訪問記録 12月.pdf");
        assert_eq!(res.bytes().await.expect("body").as_ref(), PDF);
    }
    let actions = c.app.actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "file.upload").count(), 1);
    assert_eq!(actions.iter().filter(|a| *a == "file.download").count(), 2);
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn f4_a_file_is_only_for_members_of_its_channel() {
    // SECURITY F4, D1
    let c = channel(Options::default()).await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let p = nurse
        .agent
        .send_file(&c.files(), "記録.pdf", PDF.to_vec(), "")
        .await;
    assert_eq!(p.status, 303);
    let file_id: String = sqlx::query_scalar("select file_id from attachment")
        .fetch_one(&c.app.state.db.pool)
        .await
        .expect("row");
    // A guest of another channel asks for it through their own channel and through this one.
    let other = c.app.create_channel(&c.clerk.agent, "学校 連絡", 60).await;
    let link = c
        .app
        .invite_guest(
            &c.clerk.agent,
            &other,
            "田中 先生",
            "tanaka@school.example.jp",
            "post_files",
            30,
        )
        .await;
    let teacher = c.app.enrol_guest(&link, "先生の長い合言葉ですよ").await;
    for path in [
        format!("/c/{other}/files/{file_id}"),
        format!("/c/{}/files/{file_id}", c.id),
    ] {
        let p = teacher.agent.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(!p.body.contains("%PDF"));
    }
    // Signed out, nothing.
    let stranger = c.app.agent();
    let p = stranger.get(&format!("/c/{}/files/{file_id}", c.id)).await;
    assert_ne!(p.status, 200);
    assert!(!p.body.contains("%PDF"));
}

#[tokio::test]
async fn d6_a_post_guest_and_a_read_guest_cannot_send_files() {
    // SECURITY D6
    let c = channel(Options::default()).await;
    for (name, email, permission) in [
        ("書く 人", "post@hospital.example.jp", "post"),
        ("読む 人", "read@hospital.example.jp", "read"),
    ] {
        let guest = c.guest(name, email, permission).await;
        let page = guest.agent.get(&c.page()).await;
        assert!(
            !page.body.contains("type=\"file\""),
            "no file form for {permission}"
        );
        let p = guest
            .agent
            .send_file(&c.files(), "記録.pdf", PDF.to_vec(), "")
            .await;
        assert_eq!(p.status, 403, "{permission}");
    }
    assert_eq!(c.app.scalar("select count(*) from attachment").await, 0);
    assert_eq!(c.stored(), (0, 0));
    let denied = c
        .app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "file.upload" && r.outcome == "denied")
        .count();
    assert_eq!(denied, 2);
}

#[tokio::test]
async fn f1_a_file_over_the_limit_is_refused_with_413_and_nothing_is_kept() {
    // SECURITY F1
    let c = channel(Options {
        file_max_mb: Some(1),
        channel_quota_mb: Some(2),
        ..Options::default()
    })
    .await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let mut big = PDF.to_vec();
    big.resize(1024 * 1024 + 1, b' ');
    let p = nurse
        .agent
        .send_file(&c.files(), "大きい.pdf", big, "")
        .await;
    assert_eq!(p.status, 413);
    assert!(
        html_unescape(&p.main()).contains("1 MBまで"),
        "{}",
        p.main()
    );
    assert_eq!(c.stored(), (0, 0));
    assert_eq!(c.app.scalar("select count(*) from attachment").await, 0);

    // The channel's quota: two files of 0.9 MB fit in 2 MB, a third does not.
    let mut almost = PDF.to_vec();
    almost.resize(900 * 1024, b' ');
    for _ in 0..2 {
        let p = nurse
            .agent
            .send_file(&c.files(), "記録.pdf", almost.clone(), "")
            .await;
        assert_eq!(p.status, 303);
    }
    let p = nurse
        .agent
        .send_file(&c.files(), "記録.pdf", almost, "")
        .await;
    assert_eq!(p.status, 422);
    assert!(html_unescape(&p.main()).contains("上限に達した"));
    assert_eq!(c.stored(), (2, 0));
}

#[tokio::test]
async fn f2_the_content_decides_the_type_and_f3_names_are_only_metadata() {
    // SECURITY F2, F3
    let c = channel(Options::default()).await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    // A program named like a PDF, and an archive.
    for (name, bytes) in [
        ("請求書.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec()),
        ("資料.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec()),
    ] {
        let p = nurse.agent.send_file(&c.files(), name, bytes, "").await;
        assert_eq!(p.status, 422, "{name}");
        assert!(html_unescape(&p.main()).contains("この種類のファイルは送れません"));
    }
    assert_eq!(c.stored(), (0, 0));
    // A path in the name and markup in it: kept as a name, shown inert.
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01".to_vec();
    let p = nurse
        .agent
        .send_file(
            &c.files(),
            "../../<img src=x onerror=alert(1)>.png",
            png,
            "",
        )
        .await;
    assert_eq!(p.status, 303);
    let name: String = sqlx::query_scalar("select name from attachment")
        .fetch_one(&c.app.state.db.pool)
        .await
        .expect("row");
    assert_eq!(name, "<img src=x onerror=alert(1)>.png");
    let page = nurse.agent.get(&c.page()).await;
    assert!(!page.body.contains("<img src=x"));
    assert!(page.body.contains("&#60;img src"));
    assert!(html_unescape(&page.body).contains("<img src=x onerror=alert(1)>.png"));
    assert_eq!(c.stored(), (1, 0));
    assert!(!c.app.dir.path().join("etc").exists());
}

#[tokio::test]
async fn i1_a_file_name_or_a_csv_holding_a_my_number_is_refused_and_audited_masked() {
    // SECURITY I1
    let c = channel(Options::default()).await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let p = nurse
        .agent
        .send_file(&c.files(), "本人確認 123456789018.pdf", PDF.to_vec(), "")
        .await;
    assert_eq!(p.status, 422);
    assert!(html_unescape(&p.main()).contains("********9018"));
    // A CSV as Excel in Japan saves it: Shift_JIS.
    let (csv, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,個人番号\n佐藤 花子,1234-5678-9018\n");
    let p = nurse
        .agent
        .send_file(&c.files(), "名簿.csv", csv.into_owned(), "")
        .await;
    assert_eq!(p.status, 422);
    assert!(html_unescape(&p.main()).contains("マイナンバー"));
    assert_eq!(c.stored(), (0, 0));
    for r in c.app.audit().await {
        let detail = r.detail.unwrap_or_default();
        assert!(
            !detail.contains("123456789018") && !detail.contains("5678"),
            "{detail}"
        );
    }
    // The same CSV without the number is a file like any other.
    let (csv, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,所属\n佐藤 花子,市立病院\n");
    let p = nurse
        .agent
        .send_file(&c.files(), "名簿.csv", csv.into_owned(), "")
        .await;
    assert_eq!(p.status, 303);
}

#[tokio::test]
async fn f5_a_withdrawn_file_answers_404_everywhere_its_bytes_are_gone_and_its_size_is_returned() {
    // SECURITY F5
    let c = channel(Options {
        channel_quota_mb: Some(1),
        ..Options::default()
    })
    .await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let teacher = c
        .guest("田中 教諭", "tanaka@school.example.jp", "post")
        .await;
    let mut big = PDF.to_vec();
    big.resize(700 * 1024, b' ');
    let p = nurse
        .agent
        .send_file(&c.files(), "間違えた資料.pdf", big.clone(), "")
        .await;
    assert_eq!(p.status, 303);
    let (file_id, message_id, sha256): (String, String, String) =
        sqlx::query_as("select file_id, message_id, sha256 from attachment")
            .fetch_one(&c.app.state.db.pool)
            .await
            .expect("row");
    let guest_link = format!("{}/{file_id}", c.files());
    let staff_link = format!("/staff/channels/{}/files/{file_id}", c.id);
    c.clerk
        .agent
        .get(&format!("/staff/channels/{}", c.id))
        .await;
    assert_eq!(teacher.agent.get(&guest_link).await.status, 200);

    // The author withdraws the message.
    nurse.agent.get(&c.page()).await;
    let p = nurse
        .agent
        .post(&format!("{}/messages/{message_id}/withdraw", c.page()), &[])
        .await;
    assert_eq!(p.status, 303);
    for (agent, link) in [
        (&nurse.agent, &guest_link),
        (&teacher.agent, &guest_link),
        (&c.clerk.agent, &staff_link),
    ] {
        assert_eq!(agent.get(link).await.status, 404, "{link}");
    }
    assert_eq!(c.stored(), (0, 0), "the bytes are deleted from disk");
    let page = teacher.agent.get(&c.page()).await;
    assert!(!html_unescape(&page.main()).contains("間違えた資料.pdf"));
    // Its size is back in the quota: the same file fits again.
    let p = nurse
        .agent
        .send_file(&c.files(), "正しい資料.pdf", big, "")
        .await;
    assert_eq!(p.status, 303, "{}", p.main());
    // The trail keeps what it was.
    let withdrawal = c
        .app
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "message.withdraw")
        .expect("withdrawal");
    let detail = withdrawal.detail.unwrap_or_default();
    assert!(
        detail.contains("間違えた資料.pdf")
            && detail.contains(&format!("{} bytes", 700 * 1024))
            && detail.contains(&sha256),
        "{detail}"
    );
}

#[tokio::test]
async fn f1_thirty_concurrent_uploads_never_pass_the_channel_quota() {
    // SECURITY F1
    let c = channel(Options {
        file_max_mb: Some(2),
        channel_quota_mb: Some(5),
        ..Options::default()
    })
    .await;
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let mut file = PDF.to_vec();
    file.resize(1024 * 1024, b' ');
    let files = c.files();
    let sends = (0..30).map(|i| {
        let agent = &nurse.agent;
        let files = &files;
        let file = file.clone();
        async move {
            agent
                .send_file(files, &format!("記録{i}.pdf"), file, "")
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(sends).await;
    let kept = statuses.iter().filter(|s| **s == 303).count();
    assert_eq!(kept, 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 422),
        "{statuses:?}"
    );
    let stored: i64 = c
        .app
        .scalar("select cast(coalesce(sum(size), 0) as bigint) from attachment")
        .await;
    assert_eq!(stored, 5 * 1024 * 1024);
    assert_eq!(c.stored(), (5, 0));
}

#[tokio::test]
async fn f5_bytes_no_file_stands_for_are_deleted_at_start() {
    // SECURITY F5: the files of messages withdrawn before withdrawing deleted them, and an
    // upload a crash cut off, leave nothing on disk once the portal starts again.
    let dir = tempfile::tempdir().expect("dir");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("files");
    // Left two hours ago; bytes written a moment ago may be another instance's upload.
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for (name, bytes) in [
        ("0123456789abcdef0123456789abcdef", PDF),
        ("incoming-0123456789abcdef", b"half".as_slice()),
    ] {
        let path = files.join(name);
        std::fs::write(&path, bytes).expect("left behind");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(two_hours_ago))
            .expect("age");
    }
    std::fs::write(files.join("fedcba9876543210fedcba9876543210"), PDF).expect("fresh");
    let c = channel(Options {
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    assert_eq!(c.stored(), (1, 0), "only the bytes just written are left");
    std::fs::remove_file(
        c.app
            .dir
            .path()
            .join("files/fedcba9876543210fedcba9876543210"),
    )
    .expect("fresh");
    // A file sent afterwards is kept, and kept across a restart's sweep of the folder.
    let nurse = c
        .guest("佐藤 看護師", "sato@hospital.example.jp", "post_files")
        .await;
    let p = nurse
        .agent
        .send_file(&c.files(), "記録.pdf", PDF.to_vec(), "")
        .await;
    assert_eq!(p.status, 303);
    let removed = madoguchi::attachments::remove_orphans(&c.app.state)
        .await
        .expect("sweep");
    assert_eq!(removed, 0);
    assert_eq!(c.stored(), (1, 0));
}
