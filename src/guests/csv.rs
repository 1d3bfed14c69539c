//! Reading a clerk's CSV file of guests.

/// The rows of an uploaded CSV file: UTF-8 (with or without BOM) or Shift_JIS as saved by
/// spreadsheet programs; an optional header row is skipped.
pub fn rows(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    Ok(numbered_rows(bytes)?
        .into_iter()
        .map(|(_, row)| row)
        .collect())
}

/// The rows with the line of the file each starts on, as a spreadsheet or text editor numbers
/// them (the header, blank lines and quoted line breaks counted), for messages about a row.
pub fn numbered_rows(bytes: &[u8]) -> Result<Vec<(u64, Vec<String>)>, String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}').to_string(),
        Err(_) => {
            let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(bytes);
            if bad {
                return Err("encoding".into());
            }
            decoded.into_owned()
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        // The reader's own line count starts a record at the blank lines before it: count the
        // newlines up to the record's first character instead.
        let mut start = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(0));
        let bytes = text.as_bytes();
        while start < bytes.len() && matches!(bytes[start], b'\n' | b'\r') {
            start += 1;
        }
        let line = 1 + text.as_bytes()[..start.min(bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        let row: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if row.iter().all(String::is_empty) {
            continue;
        }
        rows.push((line, row));
    }
    if rows.first().is_some_and(|(_, first)| is_header(first)) {
        rows.remove(0);
    }
    Ok(rows)
}

/// Column titles a header row may use. A first row is a header only when every cell is one of
/// these: a data row that merely mentions "name" (`kaname@…`, "Rename Clinic") is kept.
const CSV_TITLES: &[&str] = &[
    "name",
    "full name",
    "氏名",
    "名前",
    "お名前",
    "organisation",
    "organization",
    "所属",
    "組織",
    "所属先",
    "email",
    "e-mail",
    "mail",
    "メール",
    "メールアドレス",
];

fn is_header(row: &[String]) -> bool {
    row.iter()
        .filter(|c| !c.is_empty())
        .all(|c| CSV_TITLES.contains(&c.to_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::rows as csv_rows;

    #[test]
    fn a_header_row_of_column_titles_is_skipped() {
        let rows = csv_rows("氏名,所属,メール\n医師 一,市立病院,one@example.jp\n".as_bytes())
            .expect("rows");
        assert_eq!(rows.len(), 1);
        let rows = csv_rows(b"Name,Organisation,E-mail\nA B,C,a@example.jp\n").expect("rows");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn a_first_data_row_that_mentions_name_or_mail_is_kept() {
        let rows = csv_rows(
            "要 太郎,Rename Clinic,kaname@example.jp\nメール 花子,市立病院,h@example.jp\n"
                .as_bytes(),
        )
        .expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][2], "kaname@example.jp");
    }

    #[test]
    fn csv_in_shift_jis_with_a_header_row_is_read() {
        let text = "氏名,所属,メール\r\n山田 太郎,市立病院,taro@hospital.example.jp\r\n";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let rows = csv_rows(&sjis).expect("rows");
        assert_eq!(
            rows,
            vec![vec!["山田 太郎", "市立病院", "taro@hospital.example.jp"]]
        );
        let bom = format!("\u{feff}{text}");
        assert_eq!(csv_rows(bom.as_bytes()).expect("rows").len(), 1);
    }

    #[test]
    fn rows_carry_the_line_of_the_file_they_start_on() {
        let text = "氏名,所属,メール\n\n医師 一,市立病院,one@example.jp\n\"二\n行\",学校,two@example.jp\nthree,x,3@example.jp\n";
        let lines: Vec<u64> = super::numbered_rows(text.as_bytes())
            .expect("rows")
            .iter()
            .map(|(line, _)| *line)
            .collect();
        assert_eq!(lines, vec![3, 4, 6]);
    }

    #[test]
    fn quoted_fields_keep_their_commas() {
        let rows =
            csv_rows(b"\"Sato, Hanako\",\"School, North\",h@school.example.jp\n").expect("r");
        assert_eq!(rows[0][0], "Sato, Hanako");
        assert_eq!(rows[0][1], "School, North");
    }
}
