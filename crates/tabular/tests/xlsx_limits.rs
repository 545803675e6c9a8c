//! What an XLSX workbook may declare and hold before it is refused, and how sheets written oddly
//! (cells far out, rows out of order, parts in unusual places) are read.

use std::io::{Cursor, Write};

use hatchery_tabular::{Encoding, Format, Row, Table, TabularError};
use zip::write::SimpleFileOptions;

const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const DOC_RELS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// A workbook of the given parts, stored uncompressed.
fn zip(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in parts {
        zip.start_file(*name, stored).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn package_rels(workbook: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" Target="{workbook}"/></Relationships>"#
    )
}

/// `workbook.xml` with one `<sheet>` per relationship id, in order.
fn workbook_xml(ids: &[&str]) -> String {
    let sheets: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!(r#"<sheet name="S{i}" sheetId="{}" r:id="{id}"/>"#, i + 1))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><sheets>{sheets}</sheets></workbook>"#
    )
}

/// Workbook relationships: (id, target) of worksheets, and the shared strings as `strings`.
fn workbook_rels(sheets: &[(&str, &str)]) -> String {
    let mut rels: String = sheets
        .iter()
        .map(|(id, target)| {
            format!(r#"<Relationship Id="{id}" Type="{DOC_RELS}/worksheet" Target="{target}"/>"#)
        })
        .collect();
    rels.push_str(&format!(
        r#"<Relationship Id="strings" Type="{DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>"#
    ));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}">{rels}</Relationships>"#
    )
}

fn sheet_xml(before_data: &str, rows: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{before_data}<sheetData>{rows}</sheetData></worksheet>"#
    )
}

/// A one-sheet workbook in the usual layout.
fn one_sheet(sheet: &str, shared_strings: Option<&str>) -> Vec<u8> {
    let (package, book, rels) = (
        package_rels("xl/workbook.xml"),
        workbook_xml(&["rId1"]),
        workbook_rels(&[("rId1", "worksheets/sheet1.xml")]),
    );
    let mut parts = vec![
        ("_rels/.rels", package.as_str()),
        ("xl/workbook.xml", book.as_str()),
        ("xl/_rels/workbook.xml.rels", rels.as_str()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    if let Some(strings) = shared_strings {
        parts.push(("xl/sharedStrings.xml", strings));
    }
    zip(&parts)
}

fn inline(reference: &str, text: &str) -> String {
    format!(r#"<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

fn open(bytes: Vec<u8>) -> Result<Table, TabularError> {
    Table::from_bytes(bytes, Some(Format::Xlsx), Encoding::Auto)
}

fn row(number: u64, cells: &[&str]) -> Row {
    Row {
        number,
        cells: cells.iter().map(|c| (*c).to_owned()).collect(),
    }
}

#[test]
fn a_used_range_wider_than_supported_is_refused_up_front() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "email").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    let err = open(workbook.save_to_buffer().unwrap()).unwrap_err();
    assert!(
        matches!(
            &err,
            TabularError::SheetTooLarge { reference, rows: 1_048_576, columns: 16_384 }
                if reference == "A1:XFD1048576"
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the first sheet declares a used range of 1,048,576 rows × 16,384 columns \
         (A1:XFD1048576); at most 1,048,576 rows × 1,000 columns are supported: delete what lies \
         beyond the data, or export the sheet as CSV"
    );
}

#[test]
fn a_used_range_of_a_thousand_columns_is_read() {
    let sheet = sheet_xml(
        r#"<dimension ref="B2:ALM9"/>"#,
        &format!(r#"<row r="2">{}</row>"#, inline("B2", "email")),
    );
    let table = open(one_sheet(&sheet, None)).unwrap();
    assert_eq!(table.headers, ["email"]);
}

#[test]
fn a_malformed_used_range_is_refused() {
    for reference in [
        "A1:",
        "A1:B2:C3",
        "1:2",
        "$A$1:$B$2",
        "A0:B2",
        "A1:XFE2",
        "B1:A2",
    ] {
        let sheet = sheet_xml(&format!(r#"<dimension ref="{reference}"/>"#), "");
        let err = open(one_sheet(&sheet, None)).unwrap_err();
        assert!(
            matches!(&err, TabularError::InvalidSheetRange { reference: r } if r == reference),
            "{reference}: {err}"
        );
    }
    let long = format!("A1:{}", "Z".repeat(1_000));
    let sheet = sheet_xml(&format!(r#"<dimension ref="{long}"/>"#), "");
    let message = open(one_sheet(&sheet, None)).unwrap_err().to_string();
    assert!(message.len() < 300, "{message}");
}

/// calamine reads references into `u32` unchecked: one too long would overflow (a panic in debug
/// builds), so anything beyond Excel's grid is refused before it reads the sheet.
#[test]
fn references_beyond_excel_s_last_cell_are_refused() {
    for (rows, reference) in [
        (inline("AAAAAAAAAAAA1", "x"), "AAAAAAAAAAAA1"),
        (inline("XFE1", "x"), "XFE1"),
        (inline("A1048577", "x"), "A1048577"),
        (
            format!(r#"<row r="99999999999">{}</row>"#, inline("A1", "x")),
            "99999999999",
        ),
        (
            r#"<row><c r="A99999999999999999999$"/></row>"#.to_owned(),
            "A99999999999999999999$",
        ),
    ] {
        let sheet = sheet_xml("", &rows);
        let err = open(one_sheet(&sheet, None)).unwrap_err();
        assert!(
            matches!(&err, TabularError::CellOutOfRange { reference: r } if r == reference),
            "{rows}: {err}"
        );
        assert!(err.to_string().contains("XFD1048576"), "{err}");
    }
}

#[test]
fn shared_string_counts_beyond_the_limits_are_refused() {
    let sheet = sheet_xml("", r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#);
    let strings = |attributes: &str| {
        format!(
            r#"<?xml version="1.0"?><sst xmlns="{MAIN}" {attributes}><si><t>email</t></si></sst>"#
        )
    };
    // A table holds at most one string per 5 bytes (`<si/>`), and 2^24 in all; at most 1,048,576
    // rows × 500 columns may refer to them.
    let fits = |attributes: &str| strings(attributes).len() as u64 / 5;
    for (attributes, declared, limit) in [
        (
            r#"uniqueCount="16777217""#,
            16_777_217,
            fits(r#"uniqueCount="16777217""#),
        ),
        (
            r#"count="1" uniqueCount="0900000000""#,
            900_000_000,
            fits(r#"count="1" uniqueCount="0900000000""#),
        ),
        (r#"count="524288001""#, 524_288_001, 524_288_000),
    ] {
        let err = open(one_sheet(&sheet, Some(&strings(attributes)))).unwrap_err();
        assert!(
            matches!(err, TabularError::TooManySharedStrings { declared: d, limit: l } if d == declared && l == limit),
            "{attributes}: {err}"
        );
    }
    // Counts calamine does not parse as numbers are not used, so not checked.
    for attributes in [
        r#"count="1" uniqueCount="1""#,
        r#"uniqueCount="-5""#,
        r#"uniqueCount="lots""#,
    ] {
        let table = open(one_sheet(&sheet, Some(&strings(attributes)))).unwrap();
        assert_eq!(table.headers, ["email"], "{attributes}");
    }
}

/// A 1 MB workbook with a value in A1 and one in XFD1048576 and no `<dimension>`: calamine's dense
/// range would be 512 GiB. Streamed, the far cell fails its row and the rest is read; memory stays
/// proportional to the file (checked by hand with `/usr/bin/time -v` on this test: see
/// docs/fuzzing.md).
#[test]
fn a_megabyte_workbook_with_a_value_in_the_last_cell_is_read_row_by_row() {
    let mut rows = format!(
        r#"<row r="1">{}{}</row>"#,
        inline("A1", "email"),
        inline("B1", "note")
    );
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut number = 1;
    while rows.len() < 1_000_000 {
        number += 1;
        let note: String = (0..40)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(b'a' + (seed % 26) as u8)
            })
            .collect();
        rows.push_str(&format!(
            r#"<row r="{number}">{}{}</row>"#,
            inline(&format!("A{number}"), &format!("p{number}@example.com")),
            inline(&format!("B{number}"), &note)
        ));
    }
    rows.push_str(&format!(
        r#"<row r="1048576">{}</row>"#,
        inline("XFD1048576", "x")
    ));
    let bytes = one_sheet(&sheet_xml("", &rows), None);
    assert!(bytes.len() > 1_000_000);
    let table = open(bytes).unwrap();
    assert_eq!(table.headers, ["email", "note"]);
    let results: Vec<_> = table.collect();
    assert_eq!(results.len(), number);
    assert!(results[..number - 1].iter().all(Result::is_ok));
    assert_eq!(results[0].as_ref().unwrap().cells[0], "p2@example.com");
    assert!(matches!(
        results[number - 1],
        Err(TabularError::TooManyColumns {
            row: 1_048_576,
            count: 16_384
        })
    ));
}

/// Excel writes rows in order and each cell once; other writers (and damaged files) may not. Rows
/// come out in sheet order, a row written in pieces is read as one, and of two values for a cell the
/// later one counts (blank text is no value).
#[test]
fn rows_out_of_order_and_repeated_cells_are_read_in_sheet_order() {
    let rows = [
        format!(r#"<row r="3">{}</row>"#, inline("A3", "c@example.com")),
        format!(
            r#"<row r="1">{}{}</row>"#,
            inline("A1", "email"),
            inline("B1", "name")
        ),
        format!(
            r#"<row r="2">{}{}</row>"#,
            inline("B2", "Bo"),
            inline("A2", "b@example.com")
        ),
        format!(
            r#"<row r="3">{}{}</row>"#,
            inline("B3", "Cy"),
            inline("A3", "c2@example.com")
        ),
        format!(
            r#"<row r="4">{}{}</row>"#,
            inline("A4", "d@example.com"),
            inline("A4", "   ")
        ),
    ]
    .concat();
    let table = open(one_sheet(&sheet_xml("", &rows), None)).unwrap();
    assert_eq!(table.headers, ["email", "name"]);
    let rows: Vec<Row> = table.map(Result::unwrap).collect();
    assert_eq!(
        rows,
        [
            row(2, &["b@example.com", "Bo"]),
            row(3, &["c2@example.com", "Cy"]),
            row(4, &["d@example.com", ""]),
        ]
    );
}

/// As calamine's range did, columns count from the leftmost column with a value anywhere in the
/// sheet, and cells without a reference follow the one before.
#[test]
fn columns_count_from_the_leftmost_value_of_the_sheet() {
    let rows = [
        format!(r#"<row r="1">{}{}</row>"#, inline("C1", "email"), inline("D1", "name")),
        r#"<row><c t="inlineStr"><is><t>note</t></is></c><c/><c t="inlineStr"><is><t>a@b.cn</t></is></c></row>"#.to_owned(),
    ]
    .concat();
    let table = open(one_sheet(&sheet_xml("", &rows), None)).unwrap();
    assert_eq!(table.headers, ["", "", "email", "name"]);
    let rows: Vec<Row> = table.map(Result::unwrap).collect();
    assert_eq!(rows, [row(2, &["note", "", "a@b.cn", ""])]);
}

/// The sheet checked is the sheet calamine reads: the first one listed by the workbook, wherever the
/// package puts it, whatever the case of its path.
#[test]
fn the_first_sheet_is_checked_wherever_the_package_puts_it() {
    let backwards = sheet_xml(
        r#"<dimension ref="B2:A1"/>"#,
        &format!(r#"<row r="1">{}</row>"#, inline("A1", "email")),
    );
    let fine = sheet_xml(
        r#"<dimension ref="A1"/>"#,
        &format!(r#"<row r="1">{}</row>"#, inline("A1", "email")),
    );
    let package = package_rels("/Book/Main.xml");
    let rels = workbook_rels(&[
        ("rId9", "/Book/Sheets/Data.xml"),
        ("rId2", "sheets/other.xml"),
    ]);
    let layout = |first: &str, data: &str, other: &str| {
        let book = workbook_xml(&[first, if first == "rId9" { "rId2" } else { "rId9" }]);
        zip(&[
            ("_rels/.rels", package.as_str()),
            ("book/main.xml", book.as_str()),
            ("BOOK/_rels/Main.xml.rels", rels.as_str()),
            ("book/sheets/data.xml", data),
            ("Book/sheets/other.xml", other),
        ])
    };
    let err = open(layout("rId9", &backwards, &fine)).unwrap_err();
    assert!(
        matches!(err, TabularError::InvalidSheetRange { .. }),
        "{err}"
    );
    let err = open(layout("rId2", &fine, &backwards)).unwrap_err();
    assert!(
        matches!(err, TabularError::InvalidSheetRange { .. }),
        "{err}"
    );
    // A damaged sheet that is not the first is not read, so not refused.
    assert_eq!(
        open(layout("rId9", &fine, &backwards)).unwrap().headers,
        ["email"]
    );
    assert_eq!(
        open(layout("rId2", &backwards, &fine)).unwrap().headers,
        ["email"]
    );
}

/// A part declaring 2 GiB once unpacked (a ZIP bomb, here with its size field forged) is refused
/// before anything is unpacked: the ZIP reader never reads past the declared size.
#[test]
fn a_part_larger_than_a_gibibyte_unpacked_is_refused() {
    let sheet = sheet_xml(
        "",
        &format!(r#"<row r="1">{}</row>"#, inline("A1", "email")),
    );
    let mut bytes = one_sheet(&sheet, None);
    let name = b"xl/worksheets/sheet1.xml";
    // The central directory entry: signature, then the uncompressed size at offset 24 and the name
    // at offset 46.
    let entry = (0..bytes.len() - 46 - name.len())
        .find(|&at| {
            bytes[at..].starts_with(b"PK\x01\x02") && &bytes[at + 46..at + 46 + name.len()] == name
        })
        .unwrap();
    bytes[entry + 24..entry + 28].copy_from_slice(&0x8000_0000_u32.to_le_bytes());
    let err = open(bytes).unwrap_err();
    assert!(
        matches!(&err, TabularError::WorkbookPartTooLarge { part, bytes: 2_147_483_648 } if part == "xl/worksheets/sheet1.xml"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("2,147,483,648 bytes; at most 1,073,741,824"),
        "{err}"
    );
}
