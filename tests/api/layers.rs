//! The crate's layers, checked: the dependency rule stated at the top of `src/lib.rs` holds
//! in the source itself.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each source file's path from `src/`, with its text.
fn crate_files() -> Vec<(String, String)> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).expect("read"))
        })
        .collect()
}

/// The edge: the command line, the router, the web layer (server, HTTP plumbing, mail layout)
/// and each feature's pages. Everything else is below it.
fn is_edge(rel: &str) -> bool {
    rel == "main.rs"
        || rel == "router.rs"
        || rel.starts_with("web/")
        || rel.ends_with("/pages.rs")
        || rel.contains("/pages/")
}

/// The code of a file without its comments, so a doc comment may name what the code may not
/// use.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_module_below_the_edge_uses_axum_askama_sessions_or_the_web_layer() {
    let files = crate_files();
    assert!(files.len() > 30, "the source tree was not found");
    let mut found = vec![];
    for (rel, text) in &files {
        if is_edge(rel) {
            continue;
        }
        let code = code(text);
        // The session crate by its paths: the name of its table in SQL is no use of it.
        for word in [
            "axum",
            "askama",
            "tower_sessions::",
            "crate::web",
            "::pages",
        ] {
            if code.contains(word) {
                found.push(format!("{rel} uses {word}"));
            }
        }
    }
    assert!(found.is_empty(), "layer rule broken: {found:#?}");
}

#[test]
fn the_web_plumbing_uses_no_features_store_and_writes_no_sql() {
    let mut found = vec![];
    for (rel, text) in crate_files() {
        if !rel.starts_with("web/") {
            continue;
        }
        let code = code(&text);
        for word in [
            "::store",
            "logins::",
            "throttle::",
            "sqlx::query",
            ".begin()",
        ] {
            if code.contains(word) {
                found.push(format!("{rel} uses {word}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "web plumbing reaches into features: {found:#?}"
    );
}

#[test]
fn pages_open_no_transaction_and_write_no_sql_or_audit_record() {
    let mut found = vec![];
    for (rel, text) in crate_files() {
        if !(rel.ends_with("/pages.rs") || rel.contains("/pages/")) {
            continue;
        }
        let code = code(&text);
        for word in ["sqlx::query", ".begin()", "audit::record"] {
            if code.contains(word) {
                found.push(format!("{rel} uses {word}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "pages doing an operation's work: {found:#?}"
    );
}
