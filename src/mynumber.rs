//! The My Number (個人番号) guard (SECURITY I1–I3). A channel is no place for an individual
//! number: a message, a file name or the text of an uploaded file that holds a probable one is
//! refused, and the refusal is audited with the number masked.
//!
//! How a text is read (I1): after NFKC normalisation, the kanji numerals 〇一二三四五六七八九 are
//! digits. Digits stand in groups; whatever stands between two groups that is neither a digit
//! nor a letter — spaces of any width and number, line breaks, zero-width characters, soft
//! hyphens, hyphens and dashes of every kind (and the long-vowel mark ー that input methods
//! type for one), `・ . / _ ,` — joins them into one chain, and a
//! letter (Latin, kana, kanji) ends the chain. Consecutive whole groups of a chain that make
//! exactly twelve digits are a probable number when the twelfth is the check digit of the
//! first eleven (平成26年総務省令第85号 第5条, I2). Thirteen digits are a corporate number
//! (法人番号) only when their first digit is its check digit; otherwise both twelve-digit ends
//! are checked (I3). A group is never split: a longer run of digits is not flagged, and neither
//! is a twelve-digit run with a wrong check digit.
//!
//! The text is read as a stream, so a large file needs no more memory than a short message.

use unicode_normalization::UnicodeNormalization;

/// A probable individual number found in a text, masked for the audit trail and the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The number with all but its last four digits hidden: `********9018`.
    pub masked: String,
}

/// The check digit of the first eleven digits of an individual number: weights 2–7, 2–6 from
/// the right; r = sum mod 11; 0 when r ≤ 1, else 11 − r.
pub fn check_digit(first_eleven: &[u8; 11]) -> u8 {
    let sum: u32 = first_eleven
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let n = i as u32 + 1;
            let weight = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(*d) * weight
        })
        .sum();
    let r = sum % 11;
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

/// Whether twelve digits form a valid individual number.
pub fn is_valid(digits: &[u8]) -> bool {
    let Ok(first) = <[u8; 11]>::try_from(&digits[..digits.len().min(11)]) else {
        return false;
    };
    digits.len() == 12 && check_digit(&first) == digits[11]
}

/// Whether thirteen digits form a valid corporate number (法人番号): the first digit is
/// 9 − (the other twelve weighted 1, 2, 1, 2… from the right, summed) mod 9.
pub fn is_corporate(digits: &[u8]) -> bool {
    if digits.len() != 13 {
        return false;
    }
    let sum: u32 = digits[1..]
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    u32::from(digits[0]) == 9 - sum % 9
}

/// A digit as the guard reads it: ASCII after NFKC, or a kanji numeral.
fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '〇' => Some(0),
        '一' => Some(1),
        '二' => Some(2),
        '三' => Some(3),
        '四' => Some(4),
        '五' => Some(5),
        '六' => Some(6),
        '七' => Some(7),
        '八' => Some(8),
        '九' => Some(9),
        _ => None,
    }
}

/// The groups of the current chain that can still take part in a twelve- or thirteen-digit
/// number (at most 13 digits from the end), and the group being read.
#[derive(Default)]
struct Chain {
    groups: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl Chain {
    /// Ends the group being read and checks every run of whole groups that ends with it.
    fn close_group(&mut self) -> Option<Found> {
        if self.current.is_empty() {
            return None;
        }
        self.groups.push(std::mem::take(&mut self.current));
        let mut run: Vec<u8> = vec![];
        let mut found = None;
        let mut keep_from = self.groups.len();
        for (i, g) in self.groups.iter().enumerate().rev() {
            run.splice(0..0, g.iter().copied());
            if run.len() > 13 {
                break;
            }
            keep_from = i;
            found = found.or_else(|| probable(&run));
        }
        self.groups.drain(..keep_from);
        found
    }

    fn end(&mut self) -> Option<Found> {
        let found = self.close_group();
        self.groups.clear();
        found
    }
}

/// The probable individual number that a run of exactly twelve or thirteen digits is.
fn probable(run: &[u8]) -> Option<Found> {
    match run.len() {
        12 if is_valid(run) => Some(Found { masked: mask(run) }),
        13 if !is_corporate(run) => [&run[..12], &run[1..]]
            .into_iter()
            .find(|d| is_valid(d))
            .map(|d| Found { masked: mask(d) }),
        _ => None,
    }
}

/// The long-vowel mark ー is a letter to Unicode, but Japanese input methods type it for a
/// hyphen between digits (`1234ー5678ー9018`).
fn is_dash_letter(c: char) -> bool {
    c == '\u{30FC}'
}

/// The first probable individual number in `text`, if any.
pub fn find(text: &str) -> Option<Found> {
    let mut chain = Chain::default();
    for c in text.nfkc() {
        if let Some(d) = digit(c) {
            chain.current.push(d);
            // A group longer than thirteen digits is never a number; keep memory bounded.
            if chain.current.len() > 14 {
                chain.current.truncate(14);
            }
        } else if c.is_alphanumeric() && !is_dash_letter(c) {
            if let Some(f) = chain.end() {
                return Some(f);
            }
        } else if let Some(f) = chain.close_group() {
            return Some(f);
        }
    }
    chain.end()
}

fn mask(digits: &[u8]) -> String {
    let shown = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i < shown { '*' } else { char::from(b'0' + d) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordinance_example_and_its_edge_cases() {
        // SECURITY I2
        assert_eq!(check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]), 8);
        assert!(is_valid(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 8]));
        // Sums with r = 0, r = 1 and r = 10.
        let r_of = |d: &[u8; 11]| {
            d.iter()
                .rev()
                .enumerate()
                .map(|(i, x)| {
                    let n = i as u32 + 1;
                    u32::from(*x) * if n <= 6 { n + 1 } else { n - 5 }
                })
                .sum::<u32>()
                % 11
        };
        let zero = [0; 11];
        assert_eq!((r_of(&zero), check_digit(&zero)), (0, 0));
        let one = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6]; // 6 × 2 = 12, r = 1
        assert_eq!((r_of(&one), check_digit(&one)), (1, 0));
        let ten = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]; // 5 × 2 = 10, r = 10
        assert_eq!((r_of(&ten), check_digit(&ten)), (10, 1));
    }

    #[test]
    fn numbers_are_found_as_people_write_them() {
        // SECURITY I1
        for text in [
            "123456789018",
            "番号は 1234 5678 9018 です",
            "1234-5678-9018",
            "１２３４－５６７８－９０１８",
            "マイナンバー:123456789018。",
            "1234\n5678\n9018",
            "1234\r\n5678\r\n9018",
            "1234・5678・9018",
            "1234.5678.9018",
            "1234/5678/9018",
            "1234_5678_9018",
            "1234,5678,9018",
            "1234\u{200B}5678\u{200B}9018",
            "1234\u{00AD}5678\u{00AD}9018",
            "1234  5678  9018",
            "1234 - 5678 - 9018",
            "1234\u{3000}5678\u{3000}9018",
            "一二三四五六七八九〇一八",
            "番号 一二三四 五六七八 九〇一八",
            "12345678901８",
            // Thirteen digits that are not a corporate number: the ends are read.
            "7123456789018",
            // Groups before the number join the chain, but whole groups are still read.
            "2026 1234 5678 9018",
        ] {
            assert_eq!(
                find(text).map(|f| f.masked),
                Some("********9018".to_string()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn what_is_not_a_probable_number() {
        // SECURITY I3
        assert!(is_corporate(&[1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 8]));
        for text in [
            "123456789019",      // wrong check digit
            "1123456789018",     // a corporate number (法人番号) with a valid check digit
            "T1123456789018",    // an invoice registration number
            "11234567890180",    // inside a longer run
            "電話 03-1234-5678", // too short
            "1234番5678号9018",  // letters end the chain
            "1234 5678 9019 8",  // twelve with a wrong check digit, then one more group
        ] {
            assert_eq!(find(text), None, "{text}");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn digits(n: usize) -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(0u8..10, n)
        }

        fn text(d: &[u8]) -> String {
            d.iter().map(|x| char::from(b'0' + x)).collect()
        }

        fn valid_number() -> impl Strategy<Value = Vec<u8>> {
            digits(11).prop_map(|mut d| {
                let first: [u8; 11] = d.clone().try_into().expect("eleven");
                d.push(check_digit(&first));
                d
            })
        }

        proptest! {
            #[test]
            fn the_check_digit_is_always_0_to_9(d in digits(11)) {
                let first: [u8; 11] = d.try_into().expect("eleven");
                prop_assert!(check_digit(&first) <= 9);
            }

            #[test]
            fn a_valid_number_is_found(n in valid_number()) {
                let message = format!("番号 {} です", text(&n));
                prop_assert!(find(&message).is_some());
            }

            #[test]
            fn one_digit_changed_is_flagged_only_if_itself_valid(
                n in valid_number(),
                at in 0usize..12,
                to in 0u8..10,
            ) {
                prop_assume!(n[at] != to);
                let mut changed = n.clone();
                changed[at] = to;
                prop_assert_eq!(find(&text(&changed)).is_some(), is_valid(&changed));
            }

            #[test]
            fn corporate_numbers_and_longer_runs_are_not_flagged(
                n in valid_number(),
                before in 0u8..10,
                after in proptest::collection::vec(0u8..10, 1..6),
            ) {
                // A valid corporate number: its check digit before twelve digits.
                let mut corporate = vec![0];
                corporate.extend(&n);
                for d in 1..10u8 {
                    corporate[0] = d;
                    if is_corporate(&corporate) {
                        break;
                    }
                }
                prop_assume!(is_corporate(&corporate));
                prop_assert_eq!(find(&text(&corporate)), None);
                // Thirteen digits that are not a corporate number hold a number at one end.
                let thirteen = [vec![before], n.clone()].concat();
                prop_assert_eq!(find(&text(&thirteen)).is_some(), !is_corporate(&thirteen));
                // Fourteen digits and more are never read as a number.
                let longer = [vec![before], n, after].concat();
                prop_assert_eq!(find(&text(&longer)), None);
            }

            #[test]
            fn whatever_is_neither_digit_nor_letter_joins_the_groups(
                n in valid_number(),
                cut in 1usize..11,
                gap in proptest::collection::vec(
                    proptest::sample::select(vec![
                        " ", "\u{3000}", "\n", "\r\n", "\t", "-", "\u{2010}", "\u{2015}",
                        "\u{2212}", "\u{30FC}", "\u{FF0D}", "・", ".", "/", "_", ",",
                        "\u{200B}", "\u{00AD}", "\u{FEFF}",
                    ]),
                    1..4,
                ),
                kanji in proptest::bool::ANY,
            ) {
                let write = |d: &[u8]| -> String {
                    if kanji {
                        d.iter().map(|x| "〇一二三四五六七八九".chars().nth(usize::from(*x)).unwrap_or('?')).collect()
                    } else {
                        text(d)
                    }
                };
                let written = format!("番号 {}{}{} です", write(&n[..cut]), gap.concat(), write(&n[cut..]));
                prop_assert_eq!(find(&written).map(|f| f.masked), Some(mask(&n)));
            }
        }
    }
}
