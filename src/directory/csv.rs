//! The CSV export (see CONTRACT.md): a header row, one employee per row, a full snapshot.
//!
//! ERP exports come with `;` as often as `,` (German locale), and in Windows-1252 as often as
//! UTF-8; both are accepted. Every bad row is reported with its line number.

use std::collections::BTreeMap;

use super::record::Record;

/// What a file holds: the good records, and the rows that could not be read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub problems: Vec<String>,
}

pub fn parse(bytes: &[u8]) -> Parsed {
    let text = decode(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut parsed = Parsed::default();
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(|h| h.trim().to_lowercase()).collect(),
        Err(e) => {
            parsed.problems.push(format!("header: {e}"));
            return parsed;
        }
    };
    let mut seen = std::collections::HashSet::new();
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                parsed.problems.push(e.to_string());
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        let fields: BTreeMap<String, String> = headers
            .iter()
            .cloned()
            .zip(row.iter().map(str::to_owned))
            .collect();
        match Record::from_fields(&fields) {
            Ok(record) if !seen.insert(record.employee_id.clone()) => {
                parsed.problems.push(format!(
                    "line {line}: employee_id {} appears twice",
                    record.employee_id
                ))
            }
            Ok(record) => parsed.records.push(record),
            Err(problems) => parsed
                .problems
                .push(format!("line {line}: {}", problems.join("; "))),
        }
    }
    parsed
}

/// UTF-8 if it is, else Windows-1252 (every byte is a character there, so this never fails).
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

/// Windows-1252 differs from Latin-1 only in 0x80..=0x9F; written out because no small crate
/// does just this (encoding_rs would bring every encoding for one table).
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9f => HIGH[(byte - 0x80) as usize],
        _ => byte as char,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_file_with_attributes() {
        let parsed = parse(
            b"employee_id,display_name,role,active,threema_id,matrix_id,depot\n\
              D1,Erika Muster,driver,true,ABCD1234,,North\n\
              P1,Paula Plan,dispatcher,true,,@paula:dispatch.test,\n",
        );
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].attribute("depot"), Some("North"));
        assert!(parsed.records[1].attributes.is_empty());
    }

    #[test]
    fn semicolons_windows_1252_and_a_bom() {
        let mut bytes =
            b"\xef\xbb\xbfEmployee_ID;Display_Name;Role;Active;Threema_ID;Depot\n".to_vec();
        // "Jürgen" in Windows-1252 makes the whole file non-UTF-8.
        let mut latin = b"D2;J\xfcrgen \x80;driver;ja;EFGH5678;S\xfcd\n".to_vec();
        bytes.append(&mut latin);
        // A BOM and Windows-1252 do not mix; the BOM only matters for UTF-8 files.
        let parsed = parse(&bytes[3..]);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.records[0].display_name, "Jürgen €");
        assert_eq!(parsed.records[0].attribute("depot"), Some("Süd"));
        let utf8 = parse(
            "\u{feff}employee_id;display_name;role;active;threema_id\nD3;Zoë;driver;1;IJKL9012\n"
                .as_bytes(),
        );
        assert_eq!(utf8.records[0].display_name, "Zoë");
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_skipped() {
        let parsed = parse(
            b"employee_id,display_name,role,active,threema_id\n\
              D1,Ann,driver,true,ABCD1234\n\
              D2,,driver,true,ABCD1235\n\
              D1,Ann again,driver,true,ABCD1236\n\
              D4,Short row\n",
        );
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.problems.len(), 3, "{:?}", parsed.problems);
        assert!(parsed.problems[0].starts_with("line 3: display_name"));
        assert!(parsed.problems[1].contains("appears twice"));
    }
}
