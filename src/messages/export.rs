//! A message's read and acknowledgement lists as a CSV file for clerks (SECURITY E7): quoted as
//! RFC 4180 asks, and a cell a spreadsheet would run as a formula (one starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return) is neutralised with a leading apostrophe. UTF-8 with a
//! byte-order mark, so Excel in Japan opens it as it is.

use super::Detail;

/// A cell a spreadsheet shows as text, never runs.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// The members of `d` with when they read and acknowledged it; `header` names the columns
/// (name, organisation or department, read at, acknowledged at) and `time` writes a moment.
pub fn people_csv(
    d: &Detail,
    header: [String; 4],
    time: impl Fn(i64) -> String,
) -> anyhow::Result<Vec<u8>> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        w.write_record(header.iter().map(|h| neutralise(h)))?;
        for m in &d.members {
            let place = m
                .organisation
                .clone()
                .or_else(|| m.department_name.clone())
                .unwrap_or_default();
            w.write_record([
                neutralise(&m.name),
                neutralise(&place),
                m.read_at.map(&time).unwrap_or_default(),
                m.acked_at.map(&time).unwrap_or_default(),
            ])?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn e7_formula_cells_are_neutralised() {
        // SECURITY E7
        for cell in ["=1+1", "+81 3", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(cell).starts_with('\''), "{cell:?}");
        }
        assert_eq!(neutralise("佐藤 花子"), "佐藤 花子");
    }
}
