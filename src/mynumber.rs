//! The My Number (個人番号) guard (SECURITY I1–I3). A channel is no place for an individual
//! number: a message, a file name or the text of an uploaded file that holds a probable one is
//! refused, and the refusal is audited with the number masked.
//!
//! A probable number is, after NFKC normalisation and removal of single spaces or hyphens
//! between digit groups, a run of exactly twelve digits whose last digit is the check digit of
//! the first eleven (平成26年総務省令第85号 第5条). Longer runs — a 13-digit corporate number
//! (法人番号), a phone number glued to a date — are not flagged, and neither is a twelve-digit
//! run with a wrong check digit.

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

/// Characters that may sit between digit groups of one number: spaces and hyphens, as people
/// type them (after NFKC, full-width forms are already plain).
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}'
    )
}

/// The first probable individual number in `text`, if any.
pub fn find(text: &str) -> Option<Found> {
    let chars: Vec<char> = text.nfkc().collect();
    let mut run: Vec<u8> = vec![];
    let mut i = 0;
    loop {
        let c = chars.get(i).copied();
        match c {
            Some(d) if d.is_ascii_digit() => run.push(d as u8 - b'0'),
            // One separator between two digits joins their groups.
            Some(s)
                if is_separator(s)
                    && !run.is_empty()
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit) => {}
            _ => {
                if is_valid(&run) {
                    return Some(Found { masked: mask(&run) });
                }
                run.clear();
                c?;
            }
        }
        i += 1;
    }
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
        ] {
            assert_eq!(
                find(text).map(|f| f.masked),
                Some("********9018".to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn what_is_not_a_probable_number() {
        // SECURITY I3
        for text in [
            "123456789019",      // wrong check digit
            "1234567890180",     // inside a longer run
            "7123456789018",     // a 13-digit corporate number's shape
            "電話 03-1234-5678", // too short
            "1234  5678 9018",   // two separators do not join groups
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
                after in proptest::collection::vec(0u8..10, 0..6),
            ) {
                // A 13-digit corporate number: one digit before twelve.
                let corporate = [vec![before], n.clone()].concat();
                prop_assert_eq!(find(&text(&corporate)), None);
                // Any longer run holding a valid number.
                let longer = [vec![before], n, after].concat();
                prop_assert_eq!(find(&text(&longer)), None);
            }
        }
    }
}
