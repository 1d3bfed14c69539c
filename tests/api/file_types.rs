//! What a channel takes as a file, as an attacker and as an office would send it (SECURITY F2,
//! I1, I3): Office files laid out as Word, Excel, PowerPoint and LibreOffice save them pass;
//! names Windows runs, polyglots, archives posing as Office files and ZIP bombs do not; and an
//! individual number is found however it is written, wherever its text is.

use std::io::Write;

use crate::helpers::*;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";

struct Channel {
    app: TestApp,
    nurse: GuestPerson,
    id: String,
}

async fn channel() -> Channel {
    let app = spawn_app().await;
    let (_admin, clerk, _) = app
        .clerk_with_department("地域医療課", "iryo@city.example.jp")
        .await;
    let id = app.create_channel(&clerk.agent, "在宅医療 連携", 60).await;
    let link = app
        .invite_guest(
            &clerk.agent,
            &id,
            "佐藤 看護師",
            "sato@hospital.example.jp",
            "post_files",
            30,
        )
        .await;
    let nurse = app.enrol_guest(&link, "病院職員の長い合言葉です").await;
    nurse.agent.get(&format!("/c/{id}")).await;
    Channel { app, nurse, id }
}

impl Channel {
    async fn send(&self, name: &str, bytes: Vec<u8>) -> Page {
        self.nurse
            .agent
            .send_file(&format!("/c/{}/files", self.id), name, bytes, "")
            .await
    }
    async fn kept_names(&self) -> Vec<String> {
        sqlx::query_scalar("select name from attachment order by created_at, name")
            .fetch_all(&self.app.state.db.pool)
            .await
            .expect("names")
    }
}

/// A ZIP package with these entries, in this order.
fn package(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).expect("entry");
        zip.write_all(bytes).expect("write");
    }
    zip.finish().expect("zip").into_inner()
}

fn xml(s: &str) -> Vec<u8> {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n{s}").into_bytes()
}

const RELS: &str =
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"/>";

fn content_types(main: &str) -> Vec<u8> {
    xml(&format!(
        "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/{main}\" ContentType=\"application/vnd.openxmlformats-officedocument.main+xml\"/></Types>"
    ))
}

/// A Word document as Word saves it: `[Content_Types].xml` first; the words split into runs.
fn docx_as_word(words: &str) -> Vec<u8> {
    let half = words
        .char_indices()
        .nth(words.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let (a, b) = words.split_at(half);
    package(&[
        ("[Content_Types].xml", content_types("word/document.xml")),
        ("_rels/.rels", xml(RELS)),
        (
            "word/document.xml",
            xml(&format!(
                "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
             <w:body><w:p><w:r><w:t>訪問記録</w:t></w:r></w:p>\
             <w:p><w:r><w:t xml:space=\"preserve\">{a}</w:t></w:r><w:r><w:t>{b}</w:t></w:r></w:p>\
             </w:body></w:document>"
            )),
        ),
        ("word/_rels/document.xml.rels", xml(RELS)),
        (
            "word/theme/theme1.xml",
            xml("<a:theme xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\"/>"),
        ),
        (
            "word/settings.xml",
            xml(
                "<w:settings xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>",
            ),
        ),
        (
            "word/styles.xml",
            xml(
                "<w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>",
            ),
        ),
        (
            "word/webSettings.xml",
            xml(
                "<w:webSettings xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>",
            ),
        ),
        (
            "word/fontTable.xml",
            xml(
                "<w:fonts xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>",
            ),
        ),
        ("word/media/image1.png", b"\x89PNG\r\n\x1a\n".to_vec()),
        (
            "docProps/core.xml",
            xml(
                "<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\"/>",
            ),
        ),
        (
            "docProps/app.xml",
            xml(
                "<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\"/>",
            ),
        ),
    ])
}

/// The same document as LibreOffice saves it: `_rels/.rels` first, `[Content_Types].xml` last.
fn docx_as_libreoffice(words: &str) -> Vec<u8> {
    package(&[
        ("_rels/.rels", xml(RELS)),
        ("docProps/app.xml", xml("<Properties/>")),
        (
            "docProps/core.xml",
            xml("<cp:coreProperties xmlns:cp=\"x\"/>"),
        ),
        ("word/_rels/document.xml.rels", xml(RELS)),
        (
            "word/document.xml",
            xml(&format!(
                "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
             <w:body><w:p><w:r><w:t>{words}</w:t></w:r></w:p></w:body></w:document>"
            )),
        ),
        ("word/styles.xml", xml("<w:styles xmlns:w=\"x\"/>")),
        ("word/fontTable.xml", xml("<w:fonts xmlns:w=\"x\"/>")),
        ("word/settings.xml", xml("<w:settings xmlns:w=\"x\"/>")),
        ("[Content_Types].xml", content_types("word/document.xml")),
    ])
}

/// A workbook as Excel saves it, with printer settings; `number` as a number cell.
fn xlsx_as_excel(shared: &str, number: &str) -> Vec<u8> {
    package(&[
        ("[Content_Types].xml", content_types("xl/workbook.xml")),
        ("_rels/.rels", xml(RELS)),
        (
            "xl/workbook.xml",
            xml(
                "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheets><sheet name=\"名簿\" sheetId=\"1\"/></sheets></workbook>",
            ),
        ),
        ("xl/_rels/workbook.xml.rels", xml(RELS)),
        (
            "xl/worksheets/sheet1.xml",
            xml(&format!(
                "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>\
             <row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\"><v>{number}</v></c></row>\
             </sheetData></worksheet>"
            )),
        ),
        ("xl/theme/theme1.xml", xml("<a:theme xmlns:a=\"x\"/>")),
        ("xl/styles.xml", xml("<styleSheet xmlns=\"x\"/>")),
        (
            "xl/sharedStrings.xml",
            xml(&format!(
                "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"1\" uniqueCount=\"1\"><si><t>{shared}</t></si></sst>"
            )),
        ),
        ("xl/printerSettings/printerSettings1.bin", vec![0u8; 64]),
        (
            "docProps/core.xml",
            xml("<cp:coreProperties xmlns:cp=\"x\"/>"),
        ),
        ("docProps/app.xml", xml("<Properties/>")),
    ])
}

/// A presentation as PowerPoint saves it.
fn pptx_as_powerpoint(words: &str) -> Vec<u8> {
    package(&[
        ("[Content_Types].xml", content_types("ppt/presentation.xml")),
        ("_rels/.rels", xml(RELS)),
        (
            "ppt/presentation.xml",
            xml("<p:presentation xmlns:p=\"x\"/>"),
        ),
        ("ppt/_rels/presentation.xml.rels", xml(RELS)),
        (
            "ppt/slides/slide1.xml",
            xml(&format!(
                "<p:sld xmlns:p=\"x\" xmlns:a=\"y\"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{words}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
            )),
        ),
        (
            "ppt/slideLayouts/slideLayout1.xml",
            xml("<p:sldLayout xmlns:p=\"x\"/>"),
        ),
        (
            "ppt/slideMasters/slideMaster1.xml",
            xml("<p:sldMaster xmlns:p=\"x\"/>"),
        ),
        ("ppt/theme/theme1.xml", xml("<a:theme xmlns:a=\"x\"/>")),
        (
            "ppt/media/image1.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
        ),
        ("docProps/app.xml", xml("<Properties/>")),
    ])
}

/// A PDF whose page shows `words` in a standard font, as a text-bearing PDF carries them.
fn pdf_with_text(words: &str) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal(words)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        content.encode().expect("content"),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = vec![];
    doc.save_to(&mut out).expect("pdf");
    out
}

#[tokio::test]
async fn f2_office_files_as_word_excel_powerpoint_and_libreoffice_save_them_are_accepted() {
    // SECURITY F2
    let c = channel().await;
    for (name, bytes) in [
        ("訪問記録.docx", docx_as_word("来週の予定")),
        ("議事録.docx", docx_as_libreoffice("会議の記録")),
        ("名簿.xlsx", xlsx_as_excel("佐藤", "42")),
        ("説明会.pptx", pptx_as_powerpoint("説明会の資料")),
        // A real Word file with a wrong name is kept under its own type's extension.
        ("報告書", docx_as_word("報告")),
    ] {
        let p = c.send(name, bytes).await;
        assert_eq!(p.status, 303, "{name}: {}", p.main());
    }
    assert_eq!(
        c.kept_names()
            .await
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "訪問記録.docx",
            "議事録.docx",
            "名簿.xlsx",
            "説明会.pptx",
            "報告書.docx"
        ]
        .map(String::from)
        .into_iter()
        .collect()
    );
    let types: Vec<String> =
        sqlx::query_scalar("select content_type from attachment where name = '名簿.xlsx'")
            .fetch_all(&c.app.state.db.pool)
            .await
            .expect("type");
    assert_eq!(
        types,
        ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    );
}

#[tokio::test]
async fn f2_script_names_polyglots_archives_and_zip_bombs_are_refused() {
    // SECURITY F2
    let c = channel().await;
    // Text under names Windows runs.
    for name in [
        "run.bat",
        "a.js",
        "a.vbs",
        "a.hta",
        "a.wsf",
        "a.url",
        "a.scf",
        "a.ps1",
        "a.cmd",
        "setup.exe",
        "x.lnk",
        "run.BAT",
    ] {
        let p = c.send(name, b"echo hello\r\n".to_vec()).await;
        assert_eq!(p.status, 422, "{name}");
        assert!(
            html_unescape(&p.main()).contains("この名前のファイルは送れません"),
            "{name}: {}",
            p.main()
        );
    }
    // A PDF that is also a web page, named as a web page.
    let polyglot = [PDF, b"<html><script>alert(1)</script></html>"].concat();
    assert_eq!(c.send("x.html", polyglot.clone()).await.status, 422);
    // An archive whose first entry looks like Word, holding programs.
    let archive = package(&[
        ("word/document.xml", xml("<w:document/>")),
        ("invoice.exe", b"MZ\x90\x00".to_vec()),
        ("run.bat", b"echo".to_vec()),
        ("shortcut.lnk", b"L\x00\x00\x00".to_vec()),
    ]);
    for name in ["資料.zip", "資料.docx"] {
        let p = c.send(name, archive.clone()).await;
        assert_eq!(p.status, 422, "{name}");
        assert!(html_unescape(&p.main()).contains("この種類のファイルは送れません"));
    }
    // A Word package carrying a program, an archive, or macros.
    let mut carrying = vec![];
    for (extra, bytes) in [
        ("word/embeddings/oleObject1.bin", b"MZ".to_vec()),
        ("word/media/payload.zip", b"PK\x03\x04".to_vec()),
        ("word/vbaProject.bin", b"\xd0\xcf".to_vec()),
        ("word/tool.exe", b"MZ".to_vec()),
        ("payload/readme.txt", b"hello".to_vec()),
    ] {
        let mut entries = vec![
            ("[Content_Types].xml", content_types("word/document.xml")),
            ("_rels/.rels", xml(RELS)),
            (
                "word/document.xml",
                xml("<w:document><w:body/></w:document>"),
            ),
        ];
        entries.push((extra, bytes));
        carrying.push((extra, package(&entries)));
    }
    for (extra, bytes) in carrying {
        assert_eq!(c.send("報告.docx", bytes).await.status, 422, "{extra}");
    }
    // A bare ZIP is no Office file.
    let bare = package(&[("readme.txt", b"hello".to_vec())]);
    assert_eq!(c.send("資料.zip", bare).await.status, 422);
    // A ZIP bomb posing as a workbook: a sheet that unpacks to more than 200 MB.
    let mut sheet = b"<worksheet><sheetData>".to_vec();
    sheet.resize(210 * 1024 * 1024, b' ');
    let mut bomb_entries = vec![
        ("[Content_Types].xml", content_types("xl/workbook.xml")),
        ("xl/workbook.xml", xml("<workbook/>")),
    ];
    bomb_entries.push(("xl/worksheets/sheet1.xml", sheet));
    let bomb = package(&bomb_entries);
    assert!(bomb.len() < 2 * 1024 * 1024, "{}", bomb.len());
    assert_eq!(c.send("集計.xlsx", bomb).await.status, 422);

    assert!(c.kept_names().await.is_empty());
    assert_eq!(c.app.scalar("select count(*) from attachment").await, 0);
    let refused = c
        .app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.action == "file.upload" && r.outcome == "denied")
        .count();
    assert_eq!(refused, 12 + 1 + 2 + 5 + 1 + 1);
}

#[tokio::test]
async fn i1_i3_every_way_of_writing_a_my_number_is_refused_in_messages_names_and_files() {
    // SECURITY I1, I3
    let c = channel().await;
    let variants = [
        "1234\n5678\n9018",
        "1234・5678・9018",
        "1234.5678.9018",
        "1234/5678/9018",
        "1234_5678_9018",
        "1234\u{200B}5678\u{200B}9018",
        "1234\u{00AD}5678\u{00AD}9018",
        "1234  5678  9018",
        "一二三四五六七八九〇一八",
        "7123456789018",
    ];
    let post = format!("/c/{}/messages", c.id);
    for v in variants {
        let p = c
            .nurse
            .agent
            .post(&post, &[("body", &format!("番号は {v} です"))])
            .await;
        assert_eq!(p.status, 422, "message {v:?}");
        assert!(html_unescape(&p.main()).contains("********9018"), "{v:?}");
    }
    // In a file name (one line: names carry no line breaks).
    for v in variants
        .iter()
        .filter(|v| !v.contains('\n') && !v.contains('/'))
    {
        let p = c.send(&format!("本人確認 {v}.pdf"), PDF.to_vec()).await;
        assert_eq!(p.status, 422, "name {v:?}");
    }
    // In the text of every kind of file that carries text.
    for v in variants {
        let words = format!("個人番号 {v}");
        // Excel's 「CSV UTF-8」: a byte-order mark, then the rows.
        let csv = format!("\u{FEFF}氏名,個人番号\r\n佐藤 花子,{v}\r\n").into_bytes();
        for (name, bytes) in [
            ("メモ.txt", words.clone().into_bytes()),
            ("名簿.csv", csv),
            ("記録.docx", docx_as_word(&words)),
            ("記録2.docx", docx_as_libreoffice(&words)),
            ("名簿.xlsx", xlsx_as_excel(&words, "1")),
            ("資料.pptx", pptx_as_powerpoint(&words)),
        ] {
            let p = c.send(name, bytes).await;
            assert_eq!(p.status, 422, "{name} {v:?}");
            assert!(
                html_unescape(&p.main()).contains("********9018"),
                "{name} {v:?}: {}",
                p.main()
            );
        }
    }
    // A number typed into a cell as a number, and a PDF's text (PDF strings here are ASCII).
    let p = c
        .send("名簿.xlsx", xlsx_as_excel("佐藤", "123456789018"))
        .await;
    assert_eq!(p.status, 422);
    for v in [
        "123456789018",
        "1234 5678 9018",
        "1234-5678-9018",
        "7123456789018",
    ] {
        let p = c
            .send("申請書.pdf", pdf_with_text(&format!("No. {v}")))
            .await;
        assert_eq!(p.status, 422, "pdf {v}");
        assert!(html_unescape(&p.main()).contains("********9018"));
    }
    // What is not a number passes: a corporate number, a wrong check digit, a longer run.
    for text in ["法人番号 1123456789018", "123456789019", "11234567890180"] {
        let p = c.send("記録.docx", docx_as_word(text)).await;
        assert_eq!(p.status, 303, "{text}");
        let p = c.send("記録.pdf", pdf_with_text(text)).await;
        assert_eq!(p.status, 303, "{text}");
    }
    // Refusals are recorded masked; no number is anywhere in the trail.
    for r in c.app.audit().await {
        let detail = r.detail.unwrap_or_default();
        assert!(
            !detail.contains("123456789018") && !detail.contains("5678"),
            "{detail}"
        );
    }
}

/// A JPEG as a phone writes it: JFIF, EXIF with the orientation, GPS and the camera's serial,
/// XMP, a comment, then the picture.
fn phone_photo() -> Vec<u8> {
    let segment = |marker: u8, payload: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    };
    let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(b"GPSLatitude 35.6812 GPSLongitude 139.7671 BodySerialNumber 4711");
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    jpeg.extend(segment(0xE1, &[b"Exif\0\0".as_slice(), &tiff].concat()));
    jpeg.extend(segment(
        0xE1,
        "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>自宅</x:xmpmeta>".as_bytes(),
    ));
    jpeg.extend(segment(0xFE, "佐藤家の台所".as_bytes()));
    jpeg.extend(segment(0xDB, &[0u8; 65]));
    jpeg.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
    jpeg.extend_from_slice(&[0x12, 0x34, 0x56, 0xFF, 0xD9]);
    jpeg
}

#[tokio::test]
async fn f6_a_photo_is_downloaded_by_others_without_its_place_serial_or_comments() {
    // SECURITY F6
    let c = channel().await;
    let photo = phone_photo();
    let p = c.send("台所の写真.jpg", photo.clone()).await;
    assert_eq!(p.status, 303, "{}", p.main());
    let (file_id, size, sha256): (String, i64, String) =
        sqlx::query_as("select file_id, size, sha256 from attachment")
            .fetch_one(&c.app.state.db.pool)
            .await
            .expect("row");
    let res = c
        .nurse
        .agent
        .client
        .get(c.nurse.agent.url(&format!("/c/{}/files/{file_id}", c.id)))
        .send()
        .await
        .expect("download");
    assert_eq!(res.status(), 200);
    let got = res.bytes().await.expect("bytes").to_vec();
    let text = String::from_utf8_lossy(&got);
    for gone in [
        "GPSLatitude",
        "BodySerialNumber",
        "xmpmeta",
        "自宅",
        "佐藤家",
    ] {
        assert!(!text.contains(gone), "{gone} is still in the photo");
    }
    // The picture and its orientation are what they were; the record describes the kept file.
    assert!(got.ends_with(&[0x12, 0x34, 0x56, 0xFF, 0xD9]));
    assert!(got.windows(6).any(|w| w == b"Exif\0\0"), "orientation kept");
    assert!(got.len() < photo.len());
    assert_eq!(size, got.len() as i64);
    use sha2::Digest;
    assert_eq!(sha256, hex::encode(sha2::Sha256::digest(&got)));
    // Nothing of the original is left on disk.
    let on_disk = std::fs::read(c.app.dir.path().join("files").join(&file_id)).expect("file");
    assert_eq!(on_disk, got);
}
