//! Aligned text tables for the commands' human-readable output: columns padded to their
//! widest cell, two spaces apart, no trailing blanks.

use std::io::Write;

/// Writes `header` and `rows` as aligned columns.
pub fn write<const N: usize>(
    out: &mut dyn Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up_by_characters() {
        let mut out = Vec::new();
        let rows = [
            ["周会".to_string(), "x".to_string()],
            ["ab".to_string(), String::new()],
        ];
        super::write(&mut out, ["NAME", "V"], &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "NAME  V\n周会    x\nab\n");
    }
}
