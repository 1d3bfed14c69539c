//! Inside the documents a channel accepts (F2, I1). An Office Open XML file is a ZIP package,
//! and a ZIP is accepted only as one: `[Content_Types].xml` and one main part
//! (`word/document.xml`, `xl/workbook.xml` or `ppt/presentation.xml`), only the folders such a
//! document has, no macros, no embedded programs or archives, at most `PACKAGE_ENTRIES` entries
//! and `PACKAGE_BYTES` bytes unpacked — counted while unpacking, so a ZIP bomb is stopped however
//! small it claims to be. Its words, and the text of a text-bearing PDF, are what the My Number
//! guard reads.

use std::io::Read;

use super::kind::{DOCX, EXECUTABLE, PPTX, XLSX, extension};

/// The most entries an Office package may have.
pub const PACKAGE_ENTRIES: usize = 2000;
/// The most bytes an Office package may unpack to.
pub const PACKAGE_BYTES: u64 = 200 * 1024 * 1024;

/// Archives: never inside an Office package.
const ARCHIVE: &[&str] = &[
    "zip", "7z", "rar", "cab", "gz", "tgz", "bz2", "xz", "tar", "lzh", "arj", "iso", "jar",
];

/// An Office Open XML package and its words, or `None` if the ZIP is anything else.
pub(super) fn office_package(bytes: &[u8]) -> Option<(&'static str, Option<String>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    if zip.len() > PACKAGE_ENTRIES {
        return None;
    }
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .ok()?;
    let has = |n: &str| names.iter().any(|x| x == n);
    if !has("[Content_Types].xml") {
        return None;
    }
    let (mime, folder) = match (
        has("word/document.xml"),
        has("xl/workbook.xml"),
        has("ppt/presentation.xml"),
    ) {
        (true, false, false) => (DOCX, "word/"),
        (false, true, false) => (XLSX, "xl/"),
        (false, false, true) => (PPTX, "ppt/"),
        _ => return None,
    };
    for n in &names {
        let lower = n.to_lowercase();
        let expected = lower == "[content_types].xml"
            || [folder, "_rels/", "docprops/", "customxml/"]
                .iter()
                .any(|p| lower.starts_with(p));
        let ext = extension(&lower);
        let file = lower.rsplit('/').next().unwrap_or_default();
        // Parts are XML, and Office draws SVG icons itself: neither is run by Windows here.
        let program = EXECUTABLE.contains(&ext.as_str()) && !matches!(ext.as_str(), "xml" | "svg")
            || ARCHIVE.contains(&ext.as_str())
            || file == "vbaproject.bin"
            || lower.contains("/embeddings/")
            || lower.contains("/activex/");
        if !expected || program || lower.contains("..") || lower.starts_with('/') {
            return None;
        }
    }
    // Unpacked with a budget that the real bytes count against, not the sizes claimed.
    let mut budget = PACKAGE_BYTES;
    let types = read_entry(&mut zip, "[Content_Types].xml", &mut budget)?;
    if String::from_utf8_lossy(&types)
        .to_lowercase()
        .contains("macroenabled")
    {
        return None;
    }
    let mut text = String::new();
    for n in &names {
        let lower = n.to_lowercase();
        let readable = lower.ends_with(".xml") && lower.starts_with(folder);
        if !readable {
            continue;
        }
        let xml = read_entry(&mut zip, n, &mut budget)?;
        xml_text(&xml, &mut text)?;
        text.push('\n');
    }
    Some((mime, Some(text)))
}

/// One entry's bytes, taken from `budget`; `None` when the entry is unreadable or the package
/// unpacks to more than the budget.
fn read_entry(
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    budget: &mut u64,
) -> Option<Vec<u8>> {
    let entry = zip.by_name(name).ok()?;
    let mut out = vec![];
    entry.take(*budget + 1).read_to_end(&mut out).ok()?;
    let used = out.len() as u64;
    if used > *budget {
        return None;
    }
    *budget -= used;
    Some(out)
}

/// The words of an Office XML part, appended to `out`: runs of one paragraph or cell join as
/// written, paragraphs, cells and rows end in a line break.
fn xml_text(xml: &[u8], out: &mut String) -> Option<()> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = vec![];
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::CData(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref().ok()? {
                Some(c) => out.push(c),
                None => out.push(match &*r {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => ' ',
                }),
            },
            Event::End(e) => {
                if matches!(
                    e.local_name().as_ref(),
                    "p" | "c" | "si" | "tc" | "tr" | "row" | "is"
                ) {
                    out.push('\n');
                }
            }
            Event::Empty(e) => match e.local_name().as_ref() {
                "br" | "cr" => out.push('\n'),
                "tab" => out.push('\t'),
                _ => {}
            },
            Event::Eof => return Some(()),
            _ => {}
        }
        buf.clear();
    }
}

/// The text of a PDF's pages, where it carries any; `None` for a scanned or unreadable one.
pub(super) fn pdf_text(bytes: &[u8]) -> Option<String> {
    let doc = lopdf::Document::load_mem(bytes).ok()?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text: String = doc
        .extract_text_chunks_with_limit(&pages, 64 * 1024 * 1024)
        .into_iter()
        .filter_map(Result::ok)
        .collect::<Vec<_>>()
        .join("\n");
    Some(text)
}
