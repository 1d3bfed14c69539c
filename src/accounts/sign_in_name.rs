//! Sign-in names as people type them: the one rule that turns what was typed into the form a
//! name is stored in, for guests' addresses and printed resident IDs and for clerks' addresses.

/// A sign-in name as people type it, in the form it is stored: NFKC (full-width letters and
/// digits from a Japanese IME become plain), any case, no spaces. A printed resident ID
/// (`r-3gt8-wr69`) is matched with or without its hyphens, and with long-vowel marks or other
/// dashes in their place (`ｒ－３ｇｔ８－ｗｒ６９`, `r3gt8wr69`, `rー3gt8ーwr69`).
pub fn normalise_email(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let plain: String = s
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if plain.contains('@') {
        return plain;
    }
    let bare: String = plain
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '-' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}'
            )
        })
        .collect();
    let is_resident_id =
        bare.len() == 9 && bare.starts_with('r') && bare.chars().all(|c| c.is_ascii_alphanumeric());
    if is_resident_id {
        format!("r-{}-{}", &bare[1..5], &bare[5..])
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_email;

    #[test]
    fn sign_in_names_are_read_the_way_people_type_them() {
        for (typed, stored) in [
            ("r-3gt8-wr69", "r-3gt8-wr69"),
            ("ｒ－３ｇｔ８－ｗｒ６９", "r-3gt8-wr69"),
            ("r3gt8wr69", "r-3gt8-wr69"),
            ("rー3gt8ーwr69", "r-3gt8-wr69"),
            ("R 3GT8 WR69", "r-3gt8-wr69"),
            ("r‐3gt8−wr69", "r-3gt8-wr69"),
            (" Sato@Hospital.Example.JP ", "sato@hospital.example.jp"),
            (
                "ｓａｔｏ＠ｈｏｓｐｉｔａｌ．ｅｘａｍｐｌｅ．ｊｐ",
                "sato@hospital.example.jp",
            ),
            ("first-last@example.jp", "first-last@example.jp"),
        ] {
            assert_eq!(normalise_email(typed), stored, "{typed}");
        }
    }
}
