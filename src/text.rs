//! The one rule for which characters text may hold (E9). The web edge applies it to every path,
//! query, form and cookie string; field checks apply it again with the field's own limits, so a
//! value that reaches an operation never carries a character that could hide or spoof text.

/// Whether `c` may never appear in text from outside: NUL and the other C0/C1 controls (newline,
/// carriage return and tab only where `multiline`), DEL, the bidi embeddings, overrides and
/// isolates (U+202A–202E, U+2066–2069), and the Unicode line and paragraph separators.
pub fn is_forbidden(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\r' | '\t' => !multiline,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => true,
        c => c.is_control(),
    }
}

/// Whether the whole string is free of forbidden characters.
pub fn is_clean(s: &str, multiline: bool) -> bool {
    !s.chars().any(|c| is_forbidden(c, multiline))
}

/// Reads a short text field: trimmed, required, at most `max` characters, no control
/// characters except line breaks where `multiline`.
pub fn field(value: &str, max: usize, multiline: bool) -> Result<String, &'static str> {
    let v = value.trim();
    if v.is_empty() {
        return Err("form-required");
    }
    if v.chars().count() > max {
        return Err("form-too-long");
    }
    if !crate::text::is_clean(v, multiline) {
        return Err("form-invalid-chars");
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_controls_bidi_and_separators_are_refused() {
        // SECURITY E9
        for bad in [
            "a\0b",
            "a\u{1b}b",
            "a\u{7}b",
            "a\u{85}b",
            "a\u{7f}b",
            "a\u{202e}b",
            "a\u{2066}b",
            "a\u{2028}b",
            "a\u{2029}b",
        ] {
            assert!(!is_clean(bad, true), "{bad:?}");
            assert!(!is_clean(bad, false), "{bad:?}");
        }
    }

    #[test]
    fn newline_and_tab_are_allowed_only_in_multiline_text() {
        assert!(is_clean("一行目\r\n二行目\tです", true));
        assert!(!is_clean("一行目\n二行目", false));
        assert!(is_clean("山田 花子 (ﾔﾏﾀﾞ) 🌸 ‐ 医療法人", false));
    }
}
