//! Which files a channel accepts (F2), and the text the My Number guard reads in them (I1).
//!
//! The type is decided on the content, never on the name or the type the browser claims: PDF,
//! PNG, JPEG, old Office documents (Word, Excel, PowerPoint), Office Open XML documents
//! (`.docx .xlsx .pptx`, checked as packages, below), and plain text or CSV — UTF-8 or
//! Shift_JIS, as Excel in Japan writes it. The name is then tied to the type: a name ending in
//! an executable or script extension is refused whatever the content (Windows runs such files
//! on a double-click), and a name that does not end in an extension of the detected type gets
//! one (`memo` or `memo.md` holding text is served as `memo.txt`, `memo.md.txt`).
//!
//! An Office Open XML file is a ZIP package, accepted only as one (`attachments::documents`).

/// What a file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The media type the file is served with.
    pub content_type: String,
    /// The name it is kept and served under: the sender's name, with the type's extension
    /// added when it did not end in one.
    pub name: String,
    /// The text in it for the My Number guard: a text or CSV file's, the words of an Office
    /// document or of a text-bearing PDF. Images are not read.
    pub text: Option<String>,
}

/// Why a file was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAccepted {
    /// The name ends in an executable or script extension (F2).
    Name,
    /// The content is not of a type a channel accepts, or not a sound Office package.
    Type,
}

/// Extensions Windows (or a browser) opens by running or rendering: never a file's last one.
pub(super) const EXECUTABLE: &[&str] = &[
    "exe",
    "bat",
    "cmd",
    "com",
    "scr",
    "pif",
    "cpl",
    "msi",
    "msp",
    "mst",
    "msc",
    "js",
    "jse",
    "vbs",
    "vbe",
    "vb",
    "wsf",
    "wsh",
    "ws",
    "wsc",
    "hta",
    "ps1",
    "ps1xml",
    "ps2",
    "psc1",
    "psm1",
    "psd1",
    "lnk",
    "url",
    "scf",
    "inf",
    "reg",
    "jar",
    "appref-ms",
    "application",
    "gadget",
    "chm",
    "hlp",
    "dll",
    "sys",
    "ocx",
    "drv",
    "sct",
    "shs",
    "shb",
    "settingcontent-ms",
    "library-ms",
    "search-ms",
    "website",
    "iso",
    "img",
    "vhd",
    "vhdx",
    "html",
    "htm",
    "xhtml",
    "xht",
    "shtml",
    "mht",
    "mhtml",
    "svg",
    "svgz",
    "xml",
    "xsl",
    "sh",
    "py",
    "pyw",
    "pl",
    "rb",
    "php",
    "asp",
    "aspx",
    "jsp",
    "cgi",
    "docm",
    "dotm",
    "xlsm",
    "xltm",
    "xlam",
    "pptm",
    "potm",
    "ppsm",
    "ppam",
    "sldm",
    "apk",
    "app",
    "dmg",
    "pkg",
    "deb",
    "rpm",
];

/// The types accepted, with the extensions a name of that type may end in (the first is added
/// when the name ends in none of them).
const TYPES: &[(&str, &[&str])] = &[
    ("application/pdf", &["pdf"]),
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg", "jpe"]),
    ("application/msword", &["doc", "dot"]),
    ("application/vnd.ms-excel", &["xls", "xlt"]),
    ("application/vnd.ms-powerpoint", &["ppt", "pps", "pot"]),
    (DOCX, &["docx"]),
    (XLSX, &["xlsx"]),
    (PPTX, &["pptx"]),
    ("text/plain", &["txt", "text", "log"]),
    ("text/csv", &["csv"]),
];

pub(super) const DOCX: &str =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
pub(super) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub(super) const PPTX: &str =
    "application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// The last extension of a name, lower case (`""` when it has none).
pub(super) fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.trim().to_lowercase(),
        _ => String::new(),
    }
}

/// Whether a name may be kept at all: its last extension is not one Windows runs (F2).
pub fn name_allowed(name: &str) -> bool {
    // Windows ignores trailing dots and spaces: `run.bat.` runs as `run.bat`.
    let trimmed = name.trim_end_matches(['.', ' ']);
    !EXECUTABLE.contains(&extension(trimmed).as_str())
}

/// The name a file of this type is served under: `name` if it ends in one of the type's
/// extensions, else `name` with the type's first extension added.
pub fn served_name(name: &str, mime: &str) -> String {
    let trimmed = match name.trim_end_matches(['.', ' ']) {
        "" => "file",
        t => t,
    };
    let exts = TYPES
        .iter()
        .find(|(m, _)| *m == mime)
        .map(|(_, e)| *e)
        .unwrap_or(&["bin"]);
    if exts.contains(&extension(trimmed).as_str()) {
        trimmed.to_string()
    } else {
        format!("{trimmed}.{}", exts[0])
    }
}

/// Decides on a file's whole content and the name it came with.
pub fn accept(name: &str, bytes: &[u8]) -> Result<Accepted, NotAccepted> {
    if !name_allowed(name) {
        return Err(NotAccepted::Name);
    }
    let (mime, text) = detect(name, bytes).ok_or(NotAccepted::Type)?;
    let content_type = match mime {
        "text/plain" | "text/csv" => {
            let charset = if std::str::from_utf8(strip_bom(bytes)).is_ok() {
                "utf-8"
            } else {
                "shift_jis"
            };
            format!("{mime}; charset={charset}")
        }
        _ => mime.to_string(),
    };
    Ok(Accepted {
        content_type,
        name: served_name(name, mime),
        text,
    })
}

/// The detected type and the text the guard reads.
fn detect(name: &str, bytes: &[u8]) -> Option<(&'static str, Option<String>)> {
    if bytes.starts_with(b"PK\x03\x04") {
        return super::documents::office_package(bytes);
    }
    if let Some(found) = infer::get(bytes) {
        let mime = found.mime_type();
        let (mime, _) = TYPES.iter().find(|(m, _)| *m == mime)?;
        let text = (*mime == "application/pdf")
            .then(|| super::documents::pdf_text(bytes))
            .flatten();
        return Some((mime, text));
    }
    let text = decode_text(bytes)?;
    let mime = if extension(name) == "csv" {
        "text/csv"
    } else {
        "text/plain"
    };
    Some((mime, Some(text)))
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Text as people write it: UTF-8 (with or without a byte-order mark) or Shift_JIS, with no
/// control characters but tabs, line and page breaks.
fn decode_text(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = match std::str::from_utf8(strip_bom(bytes)) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let (decoded, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
            if had_errors {
                return None;
            }
            decoded.into_owned()
        }
    };
    let clean = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{0C}'));
    clean.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mime(name: &str, bytes: &[u8]) -> Option<String> {
        accept(name, bytes).ok().map(|a| a.content_type)
    }

    #[test]
    fn the_content_decides_not_the_name() {
        // SECURITY F2
        let pdf = b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n";
        assert_eq!(mime("見積書.pdf", pdf), Some("application/pdf".into()));
        // An executable named like a PDF.
        assert_eq!(mime("見積書.pdf", b"MZ\x90\x00\x03\x00\x00\x00"), None);
        // A script named like text carries control bytes no text has.
        assert_eq!(mime("memo.txt", b"\x7fELF\x02\x01\x01"), None);
        // A PNG named .txt is still a PNG, served as one.
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR";
        let a = accept("memo.txt", png).expect("png");
        assert_eq!(
            (a.content_type.as_str(), a.name.as_str()),
            ("image/png", "memo.txt.png")
        );
        // A web page is not among the accepted types, whatever its name.
        assert_eq!(mime("memo.txt", b"<html><script>alert(1)</script>"), None);
    }

    #[test]
    fn script_names_are_refused_and_text_is_served_as_text() {
        // SECURITY F2
        for name in [
            "run.bat",
            "RUN.BAT",
            "a.js",
            "a.vbs",
            "a.hta",
            "a.wsf",
            "a.url",
            "a.scf",
            "a.ps1",
            "x.html",
            "x.svg",
            "setup.exe",
            "link.lnk",
            "run.bat.",
            "run.bat ",
            "x.docm",
        ] {
            assert_eq!(
                accept(name, b"echo hello\r\n").map(|a| a.name),
                Err(NotAccepted::Name),
                "{name}"
            );
        }
        assert_eq!(
            accept("memo", b"hello").map(|a| a.name),
            Ok("memo.txt".into())
        );
        assert_eq!(
            accept("memo.md", b"hello").map(|a| a.name),
            Ok("memo.md.txt".into())
        );
        assert_eq!(
            accept("名簿.csv", b"a,b").map(|a| a.name),
            Ok("名簿.csv".into())
        );
    }

    #[test]
    fn csv_in_shift_jis_is_read_as_text() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,所属\n佐藤,市立病院\n");
        let a = accept("名簿.csv", &bytes).expect("accepted");
        assert_eq!(a.content_type, "text/csv; charset=shift_jis");
        assert!(a.text.is_some_and(|t| t.contains("市立病院")));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn a_name_ending_in_a_program_extension_is_never_kept(
                stem in "[a-zA-Z0-9ぁ-ん一-龠 ._-]{1,20}",
                ext in proptest::sample::select(EXECUTABLE.to_vec()),
                upper in proptest::bool::ANY,
                dots in "[. ]{0,3}",
            ) {
                let ext = if upper { ext.to_uppercase() } else { ext.to_string() };
                let name = format!("{stem}.{ext}{dots}");
                prop_assert_eq!(accept(&name, b"hello").map(|a| a.name), Err(NotAccepted::Name));
            }

            #[test]
            fn a_kept_name_ends_in_an_extension_of_its_type(
                stem in "[a-zA-Z0-9ぁ-ん一-龠 _-]{1,20}",
                ext in "[a-z]{0,4}",
            ) {
                let name = if ext.is_empty() { stem.clone() } else { format!("{stem}.{ext}") };
                let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR";
                for (bytes, exts) in [
                    (&b"hello"[..], &["txt", "text", "log", "csv"][..]),
                    (&png[..], &["png"][..]),
                ] {
                    if let Ok(a) = accept(&name, bytes) {
                        let served = extension(&a.name);
                        prop_assert!(exts.contains(&served.as_str()), "{} -> {}", name, a.name);
                        prop_assert!(name_allowed(&a.name));
                    }
                }
            }
        }
    }
}
