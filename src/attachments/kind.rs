//! Which files a channel accepts (F2): decided on the content's first bytes, never on the
//! name or the type the browser claims. PDF, PNG, JPEG, Office documents (Word, Excel,
//! PowerPoint, old and new), and plain text or CSV — UTF-8 or Shift_JIS, as Excel in Japan
//! writes it.

/// What a file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The media type the file is served with.
    pub content_type: String,
    /// The decoded text of a text or CSV file, for the My Number guard.
    pub text: Option<String>,
}

/// The binary types accepted, as the content sniffer names them.
const BINARY: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// Decides on a file's whole content and the name it came with (only to tell CSV from plain
/// text). `None`: not a type a channel accepts.
pub fn accept(name: &str, bytes: &[u8]) -> Option<Accepted> {
    if let Some(found) = infer::get(bytes) {
        let mime = found.mime_type();
        return BINARY.contains(&mime).then(|| Accepted {
            content_type: mime.to_string(),
            text: None,
        });
    }
    let text = decode_text(bytes)?;
    let csv = name.to_lowercase().ends_with(".csv");
    let charset = if std::str::from_utf8(strip_bom(bytes)).is_ok() {
        "utf-8"
    } else {
        "shift_jis"
    };
    Some(Accepted {
        content_type: format!(
            "{}; charset={charset}",
            if csv { "text/csv" } else { "text/plain" }
        ),
        text: Some(text),
    })
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

    #[test]
    fn the_content_decides_not_the_name() {
        // SECURITY F2
        let pdf = b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n";
        assert_eq!(
            accept("見積書.pdf", pdf).map(|a| a.content_type),
            Some("application/pdf".into())
        );
        // An executable named like a PDF.
        assert_eq!(accept("見積書.pdf", b"MZ\x90\x00\x03\x00\x00\x00"), None);
        // A script named like text carries control bytes no text has.
        assert_eq!(accept("memo.txt", b"\x7fELF\x02\x01\x01"), None);
        // A PNG named .txt is still a PNG.
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR";
        assert_eq!(
            accept("memo.txt", png).map(|a| a.content_type),
            Some("image/png".into())
        );
        // A web page is not among the accepted types, whatever its name.
        assert_eq!(accept("memo.txt", b"<html><script>alert(1)</script>"), None);
    }

    #[test]
    fn csv_in_shift_jis_is_read_as_text() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,所属\n佐藤,市立病院\n");
        let a = accept("名簿.csv", &bytes).expect("accepted");
        assert_eq!(a.content_type, "text/csv; charset=shift_jis");
        assert!(a.text.is_some_and(|t| t.contains("市立病院")));
    }
}
