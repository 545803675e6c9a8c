//! Checks a workbook's ZIP entries and the XML calamine is about to read, before it reads them, for
//! what would make calamine abort or panic instead of failing:
//!
//! - a part whose declared uncompressed size is absurd (a ZIP bomb); the ZIP reader stops at the
//!   declared size, so checking it bounds what is read;
//! - a shared-strings table declaring more strings than it can hold: calamine reserves room for the
//!   declared `uniqueCount` up front (tafia/calamine#684);
//! - a `<dimension>` that is malformed, written backwards (calamine subtracts its corners
//!   unchecked) or larger than an import may be;
//! - a cell or row reference beyond Excel's last cell XFD1048576: calamine parses references into
//!   `u32` unchecked.
//!
//! The parts are found the way calamine finds them (same ZIP and XML readers, same configuration,
//! same lookups), so the sheet checked is the sheet read. Where a part cannot be found or parsed,
//! the check stops: calamine fails on the same bytes, with its own error, before reaching anything
//! unchecked.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use zip::read::ZipFile;
use zip::ZipArchive;

use crate::{TabularError, MAX_COLUMNS};

/// Excel's last row, 1048576; an import reads no further.
pub(crate) const MAX_SHEET_ROWS: u64 = 1_048_576;
/// The widest used range (its `<dimension>`) a sheet may declare, counted from its first column.
/// Twice the columns a row may fill, so a few stray cells to the right of the data fail their rows
/// (`TooManyColumns`) instead of the whole file.
pub(crate) const MAX_SHEET_COLUMNS: u64 = 2 * MAX_COLUMNS as u64;
/// Excel's last column, XFD.
const EXCEL_COLUMNS: u64 = 16_384;
/// The largest uncompressed part (a sheet, the shared strings, the styles…) of a workbook. A sheet
/// this size holds about a million rows of 25 columns; larger imports go as CSV.
pub(crate) const MAX_PART_BYTES: u64 = 1 << 30;
/// The most distinct texts a shared-strings table may declare. calamine reserves 24 bytes for each
/// up front, so this bounds that allocation to 400 MB (address space, touched only as strings are
/// read). A table can hold no more than one per 5 bytes (`<si/>`) either.
pub(crate) const MAX_SHARED_STRINGS: u64 = 1 << 24;
const MIN_SHARED_STRING_BYTES: u64 = 5;
/// The most cells that may refer to a shared string: every cell of the most rows and columns an
/// import reads.
pub(crate) const MAX_SHARED_STRING_REFERENCES: u64 = MAX_SHEET_ROWS * MAX_COLUMNS as u64;
/// Longest reference quoted in an error message.
const QUOTED_REFERENCE_CHARS: usize = 24;

/// Checks `input`, a workbook; leaves the reader wherever it is (the caller rewinds it).
pub(crate) fn inspect<R: Read + Seek>(input: R) -> Result<(), TabularError> {
    let Ok(mut zip) = ZipArchive::new(input) else {
        // Not a ZIP archive: calamine says so.
        return Ok(());
    };
    check_part_sizes(&mut zip)?;
    let Some(paths) = PathCache::new(&zip) else {
        return Ok(());
    };
    let Some((xl_path, workbook_name)) = package_target(&mut zip, &paths) else {
        return Ok(());
    };
    check_shared_strings(&mut zip, &paths, &format!("{xl_path}sharedStrings.xml"))?;
    if let Some(sheet) = first_sheet_path(&mut zip, &paths, &xl_path, &workbook_name) {
        check_sheet(&mut zip, &paths, &sheet)?;
    }
    Ok(())
}

/// Every entry, not only the XML ones: calamine reads a sheet from wherever the workbook points.
fn check_part_sizes<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<(), TabularError> {
    for index in 0..zip.len() {
        let Ok(entry) = zip.by_index_raw(index) else {
            continue;
        };
        if entry.size() > MAX_PART_BYTES {
            return Err(TabularError::WorkbookPartTooLarge {
                part: String::from_utf8_lossy(entry.name_raw())
                    .chars()
                    .take(64)
                    .collect(),
                bytes: entry.size(),
            });
        }
    }
    Ok(())
}

/// calamine's lookup of a part: by its path, ignoring case and with `\` read as `/`.
struct PathCache(HashMap<String, String>);

impl PathCache {
    /// `None` where calamine fails: on a name that cannot be read.
    fn new<R: Read + Seek>(zip: &ZipArchive<R>) -> Option<PathCache> {
        let mut cache = HashMap::with_capacity(zip.len());
        for name in zip.file_names() {
            let name = name.ok()?;
            cache.insert(
                name.replace('\\', "/").to_ascii_lowercase(),
                name.into_owned(),
            );
        }
        Some(PathCache(cache))
    }

    fn get<'a>(&'a self, path: &'a str) -> &'a str {
        self.0
            .get(&path.to_ascii_lowercase())
            .map_or(path, String::as_str)
    }
}

type XmlPart<'a, R> = Reader<BufReader<ZipFile<'a, R>>>;

/// A part and its declared uncompressed size, read as calamine reads it; `None` if missing or not
/// readable.
fn open_part<'a, R: Read + Seek>(
    zip: &'a mut ZipArchive<R>,
    paths: &PathCache,
    path: &str,
) -> Option<(XmlPart<'a, R>, u64)> {
    let file = zip.by_name(paths.get(path)).ok()?;
    let size = file.size();
    let mut reader = Reader::from_reader(BufReader::new(file));
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    Some((reader, size))
}

/// The directory and file name of the workbook part, from the package relationships.
fn package_target<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    paths: &PathCache,
) -> Option<(String, String)> {
    let (mut xml, _) = open_part(zip, paths, "_rels/.rels")?;
    let mut buf = Vec::new();
    let mut in_relationships = false;
    let mut target = None;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == "Relationships" => {
                in_relationships = true;
            }
            Event::Start(e) if in_relationships && e.local_name().as_ref() == "Relationship" => {
                let [rel_type, rel_target] = attributes(&e, ["Type", "Target"])?;
                if rel_type.is_some_and(|t| t.ends_with("/relationships/officeDocument")) {
                    if let Some(t) = rel_target {
                        target = Some(quick_xml::escape::unescape(t).ok()?.into_owned());
                    }
                }
            }
            Event::End(e) if in_relationships && e.local_name().as_ref() == "Relationships" => {
                break
            }
            Event::Eof => return None,
            _ => {}
        }
    }
    let (mut dir, mut name) = ("xl/".to_owned(), "workbook.xml".to_owned());
    if let Some(target) = target {
        let (d, n) = match target.rfind('/') {
            Some(i) => target.split_at(i + 1),
            None => ("", target.as_str()),
        };
        dir = d.strip_prefix('/').unwrap_or(d).to_owned();
        if !n.is_empty() {
            n.clone_into(&mut name);
        }
    }
    Some((dir, name))
}

fn check_shared_strings<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    paths: &PathCache,
    path: &str,
) -> Result<(), TabularError> {
    let Some((mut xml, size)) = open_part(zip, paths, path) else {
        return Ok(());
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == "sst" => {
                let unique_limit = MAX_SHARED_STRINGS.min(size / MIN_SHARED_STRING_BYTES);
                for (key, value) in RawAttributes::new(&e).map_while(Result::ok) {
                    let limit = match key {
                        "uniqueCount" => unique_limit,
                        "count" => MAX_SHARED_STRING_REFERENCES,
                        _ => continue,
                    };
                    match count(value) {
                        Some(declared) if declared > limit => {
                            return Err(TabularError::TooManySharedStrings { declared, limit });
                        }
                        _ => {}
                    }
                }
                return Ok(());
            }
            Ok(Event::Eof) | Err(_) => return Ok(()),
            _ => {}
        }
    }
}

/// A count as calamine parses one: ASCII digits only (leading zeros allowed), saturating here.
fn count(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The path of the workbook's first sheet, found through the workbook part and its relationships.
fn first_sheet_path<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    paths: &PathCache,
    xl_path: &str,
    workbook_name: &str,
) -> Option<String> {
    let relationships = workbook_relationships(zip, paths, xl_path, workbook_name)?;
    let (mut xml, _) = open_part(zip, paths, &format!("{xl_path}{workbook_name}"))?;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == "sheet" => {
                let mut id = "";
                for attribute in RawAttributes::new(&e) {
                    let (key, value) = attribute.ok()?;
                    if key == "id" || key.rsplit_once(':').is_some_and(|(_, local)| local == "id") {
                        id = value;
                    }
                }
                let target = relationships.get(id)?;
                return Some(match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_owned(),
                    None => format!("{xl_path}{target}"),
                });
            }
            Event::End(e) if e.local_name().as_ref() == "workbook" => return None,
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Relationship id → target, as calamine reads them (raw, the last of an id winning).
fn workbook_relationships<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    paths: &PathCache,
    xl_path: &str,
    workbook_name: &str,
) -> Option<HashMap<String, String>> {
    let path = format!("{xl_path}_rels/{workbook_name}.rels");
    let (mut xml, _) = open_part(zip, paths, &path)?;
    let mut relationships = HashMap::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => {
                let [id, _, target] = attributes(&e, ["Id", "Type", "Target"])?;
                if let Some(id) = id {
                    relationships.insert(id.to_owned(), target.unwrap_or_default().to_owned());
                }
            }
            Event::End(e) if e.local_name().as_ref() == "Relationships" => {
                return Some(relationships)
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Checks the `<dimension>` calamine reads before the sheet data, and every cell and row reference.
/// References are checked wherever they are, a superset of what calamine reads.
fn check_sheet<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    paths: &PathCache,
    path: &str,
) -> Result<(), TabularError> {
    let Some((mut xml, _)) = open_part(zip, paths, path) else {
        return Ok(());
    };
    let mut buf = Vec::new();
    let mut before_data = true;
    loop {
        buf.clear();
        let e = match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => e,
            Ok(Event::Eof) | Err(_) => return Ok(()),
            _ => continue,
        };
        let (key, is_dimension) = match e.local_name().as_ref() {
            "dimension" if before_data => ("ref", true),
            "sheetData" => {
                before_data = false;
                continue;
            }
            "c" | "row" => ("r", false),
            _ => continue,
        };
        for (_, value) in RawAttributes::new(&e)
            .map_while(Result::ok)
            .filter(|(k, _)| *k == key)
        {
            if is_dimension {
                check_dimension(value)?;
            } else if let Reference::OutOfRange = parse_reference(value) {
                return Err(TabularError::CellOutOfRange {
                    reference: quoted(value),
                });
            }
        }
    }
}

fn check_dimension(range: &str) -> Result<(), TabularError> {
    let invalid = || TabularError::InvalidSheetRange {
        reference: quoted(range),
    };
    let mut corners = Vec::with_capacity(2);
    for corner in range.split(':') {
        match parse_reference(corner) {
            Reference::Cell {
                row,
                column: Some(column),
            } if corners.len() < 2 => {
                corners.push((row, column));
            }
            _ => return Err(invalid()),
        }
    }
    let (first, last) = match corners[..] {
        [one] => (one, one),
        [first, last] => (first, last),
        _ => return Err(invalid()),
    };
    if last.0 < first.0 || last.1 < first.1 {
        return Err(invalid());
    }
    let (rows, columns) = (last.0 - first.0 + 1, last.1 - first.1 + 1);
    if rows > MAX_SHEET_ROWS || columns > MAX_SHEET_COLUMNS {
        return Err(TabularError::SheetTooLarge {
            reference: quoted(range),
            rows,
            columns,
        });
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Reference {
    /// 1-based row and column, within Excel's grid.
    Cell { row: u64, column: Option<u64> },
    /// Letters then digits, but beyond XFD1048576 (calamine's arithmetic may overflow).
    OutOfRange,
    /// Anything else, which calamine refuses with an error.
    Malformed,
}

/// Reads a reference as calamine does (column letters, then row digits), noting where its
/// arithmetic would overflow: letters before any other character count even when one follows.
fn parse_reference(reference: &str) -> Reference {
    let bytes = reference.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let column = bytes[..letters].iter().fold(0u64, |n, c| {
        n.saturating_mul(26)
            .saturating_add(u64::from(c.to_ascii_uppercase() - b'A') + 1)
    });
    let digits = bytes[letters..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let row = bytes[letters..letters + digits].iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    if column > EXCEL_COLUMNS || row > MAX_SHEET_ROWS {
        return Reference::OutOfRange;
    }
    if letters + digits < bytes.len() || row == 0 {
        return Reference::Malformed;
    }
    Reference::Cell {
        row,
        column: (letters > 0).then_some(column),
    }
}

/// A reference for an error message: never long, whatever the file holds.
fn quoted(reference: &str) -> String {
    if reference.chars().count() <= QUOTED_REFERENCE_CHARS {
        reference.to_owned()
    } else {
        let mut short: String = reference.chars().take(QUOTED_REFERENCE_CHARS).collect();
        short.push('…');
        short
    }
}

/// The attributes `keys` of `e` as calamine's `get_attrs!` reads them: the scan stops once as many
/// matches as keys were seen; `None` on a malformed attribute.
fn attributes<'e, const N: usize>(
    e: &'e BytesStart<'_>,
    keys: [&str; N],
) -> Option<[Option<&'e str>; N]> {
    let mut values = [None; N];
    let mut found = 0;
    for attribute in RawAttributes::new(e) {
        let (key, value) = attribute.ok()?;
        if let Some(slot) = keys.iter().position(|k| *k == key) {
            values[slot] = Some(value);
            found += 1;
            if found == N {
                break;
            }
        }
    }
    Some(values)
}

/// calamine's own reading of an element's attributes (it does not use quick-xml's): `key="value"`
/// or `key='value'` pairs, raw; an error, then the end, on a key without `=` or an unquoted value.
struct RawAttributes<'e> {
    raw: &'e str,
    at: usize,
}

impl<'e> RawAttributes<'e> {
    fn new(e: &'e BytesStart<'_>) -> RawAttributes<'e> {
        RawAttributes {
            raw: e.attributes_raw(),
            at: 0,
        }
    }
}

impl<'e> Iterator for RawAttributes<'e> {
    type Item = Result<(&'e str, &'e str), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let (raw, bytes) = (self.raw, self.raw.as_bytes());
        let mut at = self.at;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if at >= bytes.len() {
            self.at = at;
            return None;
        }
        let key_start = at;
        while at < bytes.len() && bytes[at] != b'=' {
            at += 1;
        }
        if at >= bytes.len() {
            self.at = bytes.len();
            return Some(Err(()));
        }
        let key = raw[key_start..at].trim_ascii_end();
        at += 1;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let Some(quote @ (b'"' | b'\'')) = bytes.get(at).copied() else {
            self.at = bytes.len();
            return Some(Err(()));
        };
        at += 1;
        let value_start = at;
        while at < bytes.len() && bytes[at] != quote {
            at += 1;
        }
        let value = &raw[value_start..at];
        self.at = (at + 1).min(bytes.len());
        Some(Ok((key, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_like_calamine_and_bounded_by_excel_s_grid() {
        let cell = |row, column| Reference::Cell {
            row,
            column: Some(column),
        };
        assert_eq!(parse_reference("A1"), cell(1, 1));
        assert_eq!(parse_reference("xfd1048576"), cell(1_048_576, 16_384));
        assert_eq!(
            parse_reference("7"),
            Reference::Cell {
                row: 7,
                column: None
            }
        );
        assert_eq!(parse_reference("XFE1"), Reference::OutOfRange);
        assert_eq!(parse_reference("A1048577"), Reference::OutOfRange);
        assert_eq!(parse_reference("AAAAAAAAAAAAAAAA$"), Reference::OutOfRange);
        assert_eq!(
            parse_reference("A99999999999999999999999"),
            Reference::OutOfRange
        );
        for malformed in ["", "A", "A0", "$A$1", "A1B", "1A", "A1:B2"] {
            assert_eq!(
                parse_reference(malformed),
                Reference::Malformed,
                "{malformed}"
            );
        }
    }

    #[test]
    fn a_dimension_must_run_forward_and_fit_the_limits() {
        for ok in ["A1", "A1:F20", "B3:ALM1048576", "a1:b2"] {
            assert!(check_dimension(ok).is_ok(), "{ok}");
        }
        for invalid in [
            "A2:B1", "B1:A2", "", "A1:", "A1:B2:C3", "1:2", "A:B", "A1:XFE1",
        ] {
            assert!(
                matches!(
                    check_dimension(invalid),
                    Err(TabularError::InvalidSheetRange { .. })
                ),
                "{invalid}"
            );
        }
        let err = check_dimension("A1:XFD1048576").unwrap_err();
        assert!(
            matches!(
                err,
                TabularError::SheetTooLarge {
                    rows: 1_048_576,
                    columns: 16_384,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn attributes_are_read_raw_as_calamine_reads_them() {
        let e = BytesStart::from_content(r#"c r="A1" s = '2' t="s""#, 1);
        let all: Vec<_> = RawAttributes::new(&e).collect();
        assert_eq!(all, [Ok(("r", "A1")), Ok(("s", "2")), Ok(("t", "s"))]);
        let broken = BytesStart::from_content(r#"c r="A1" oops t="s""#, 1);
        assert_eq!(
            RawAttributes::new(&broken).collect::<Vec<_>>(),
            [Ok(("r", "A1")), Ok(("oops t", "s"))]
        );
        let unquoted = BytesStart::from_content("c r=A1", 1);
        assert_eq!(RawAttributes::new(&unquoted).collect::<Vec<_>>(), [Err(())]);
        assert_eq!(attributes(&e, ["t", "r"]), Some([Some("s"), Some("A1")]));
    }

    #[test]
    fn long_references_are_shortened_in_messages() {
        assert_eq!(quoted("A1:B2"), "A1:B2");
        assert_eq!(
            quoted(&"A".repeat(100)).chars().count(),
            QUOTED_REFERENCE_CHARS + 1
        );
    }
}
