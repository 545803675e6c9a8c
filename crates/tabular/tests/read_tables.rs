use std::io::Write;
use std::path::{Path, PathBuf};

use hatchery_tabular::{
    count_data_rows, Encoding, Format, Row, Table, TabularError, MAX_CELL_BYTES,
};

fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn rows(table: Table) -> Vec<Row> {
    table.map(|r| r.unwrap()).collect()
}

fn row(number: u64, cells: &[&str]) -> Row {
    Row {
        number,
        cells: cells.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn open_csv(bytes: &[u8]) -> Table {
    Table::from_bytes(bytes.to_vec(), Some(Format::Csv), Encoding::Auto).unwrap()
}

#[test]
fn reads_a_utf8_csv_with_a_bom() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        &dir,
        "contacts.csv",
        "\u{feff}姓名,手机,公司\r\n张三,13800138000,某某科技\r\n".as_bytes(),
    );
    let table = Table::open(&path, None, Encoding::Auto).unwrap();
    assert_eq!(table.headers, ["姓名", "手机", "公司"]);
    assert_eq!(table.detected_encoding, Encoding::Utf8);
    assert_eq!(table.format, Format::Csv);
    assert_eq!(rows(table), [row(2, &["张三", "13800138000", "某某科技"])]);
}

#[test]
fn detects_and_decodes_a_gbk_csv_with_chinese_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        &dir,
        "export.csv",
        &gbk("姓名,手机,公司\r\n李四,13900139000,深圳市某某有限公司\r\n"),
    );
    let table = Table::open(&path, None, Encoding::Auto).unwrap();
    assert_eq!(table.headers, ["姓名", "手机", "公司"]);
    assert_eq!(table.detected_encoding, Encoding::Gbk);
    assert_eq!(
        rows(table),
        [row(2, &["李四", "13900139000", "深圳市某某有限公司"])]
    );

    let forced = Table::open(&path, Some(Format::Csv), Encoding::Gbk).unwrap();
    assert_eq!(forced.headers, ["姓名", "手机", "公司"]);
}

#[test]
fn streams_a_gbk_file_larger_than_the_detection_window() {
    let mut text = String::from("姓名,手机,城市\n");
    for i in 0..50_000u64 {
        text.push_str(&format!("客户{i},1380000{:04},广州\n", i % 10_000));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "big.csv", &gbk(&text));
    let table = Table::open(&path, None, Encoding::Auto).unwrap();
    assert_eq!(table.detected_encoding, Encoding::Gbk);
    let mut count = 0u64;
    for (i, r) in table.enumerate() {
        let r = r.unwrap();
        assert_eq!(r.number, i as u64 + 2);
        assert_eq!(r.cells[0], format!("客户{i}"));
        assert_eq!(r.cells[2], "广州");
        count += 1;
    }
    assert_eq!(count, 50_000);
    assert_eq!(count_data_rows(&path, None).unwrap(), 50_000);
}

#[test]
fn utf8_chosen_for_an_ascii_start_reports_later_gbk_rows_by_number() {
    let mut bytes = b"name,city\n".to_vec();
    for _ in 0..6_000 {
        bytes.extend_from_slice(b"ann,shenzhen\n");
    }
    bytes.extend_from_slice(&gbk("张三,深圳\n"));
    bytes.extend_from_slice(b"bob,beijing\n");
    let table = open_csv(&bytes);
    assert_eq!(table.detected_encoding, Encoding::Utf8);
    let results: Vec<_> = table.collect();
    assert_eq!(results.len(), 6_002);
    let err = results[6_000].as_ref().unwrap_err();
    assert!(
        matches!(err, TabularError::InvalidUtf8 { row: 6_002 }),
        "{err}"
    );
    assert!(err.to_string().contains("GBK"));
    assert_eq!(results[6_001].as_ref().unwrap().cells, ["bob", "beijing"]);
}

#[test]
fn sniffs_semicolon_and_tab_delimiters_from_the_header() {
    let table = open_csv(b"name;email;company\nAnn;ann@example.com;Acme, Inc.\n");
    assert_eq!(table.headers, ["name", "email", "company"]);
    assert_eq!(
        rows(table),
        [row(2, &["Ann", "ann@example.com", "Acme, Inc."])]
    );

    let table = open_csv(b"name\temail\nAnn\tann@example.com\n");
    assert_eq!(table.headers, ["name", "email"]);
    assert_eq!(rows(table), [row(2, &["Ann", "ann@example.com"])]);
}

#[test]
fn numbers_a_quoted_multi_line_record_by_the_line_it_starts_on() {
    for newline in ["\n", "\r\n", "\r"] {
        let text = [
            "name,note",
            "Ann,\"line one",
            "line two",
            "line three\"",
            "Bob,short",
            "",
            "",
            "Cy,\"a",
            "b\"",
            "",
        ]
        .join(newline);
        let got = rows(open_csv(text.as_bytes()));
        let numbers: Vec<u64> = got.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [2, 5, 8], "newline {newline:?}");
        assert_eq!(got[0].cells[1], "line one\nline two\nline three");
        assert_eq!(got[2].cells[1], "a\nb");
    }
}

#[test]
fn keeps_row_numbers_across_blank_and_empty_cell_rows() {
    let got = rows(open_csv(
        b"\n\nname,city\n\nAnn,Shenzhen\n,,\n  ,\t\nBob,Beijing",
    ));
    assert_eq!(
        got,
        [row(5, &["Ann", "Shenzhen"]), row(8, &["Bob", "Beijing"])]
    );
}

#[test]
fn pads_short_rows_and_keeps_only_non_empty_extra_cells() {
    let table = open_csv(b"name,mobile,city,,\nAnn\nBob,138,,,,\nCy,139,SZ,extra,,more,,\n");
    assert_eq!(table.headers, ["name", "mobile", "city"]);
    assert_eq!(
        rows(table),
        [
            row(2, &["Ann", "", ""]),
            row(3, &["Bob", "138", ""]),
            row(4, &["Cy", "139", "SZ", "extra", "", "more"]),
        ]
    );
}

#[test]
fn trims_cells_including_full_width_spaces() {
    let table =
        open_csv(" 姓名 , 公司\u{3000}\n  张三\t,\u{3000}某某公司 \n\" quoted \",x\n".as_bytes());
    assert_eq!(table.headers, ["姓名", "公司"]);
    assert_eq!(
        rows(table),
        [row(2, &["张三", "某某公司"]), row(3, &["quoted", "x"])]
    );
}

#[test]
fn requires_a_header_row() {
    for bytes in [&b""[..], b"\n\n", b",,,\n  \n", b"\xEF\xBB\xBF"] {
        let err = Table::from_bytes(bytes.to_vec(), Some(Format::Csv), Encoding::Auto).unwrap_err();
        assert!(matches!(err, TabularError::NoHeader), "{bytes:?}: {err}");
    }
}

#[test]
fn rejects_more_than_500_columns_naming_the_row() {
    let wide = vec!["h"; 501].join(",");
    let err = Table::from_bytes(wide.into_bytes(), Some(Format::Csv), Encoding::Auto).unwrap_err();
    assert!(
        matches!(err, TabularError::TooManyColumns { row: 1, count: 501 }),
        "{err}"
    );

    let mut bytes = b"a,b\n".to_vec();
    bytes.extend_from_slice(vec!["x"; 600].join(",").as_bytes());
    bytes.extend_from_slice(b"\nok,fine\n");
    let results: Vec<_> = open_csv(&bytes).collect();
    assert!(matches!(
        results[0],
        Err(TabularError::TooManyColumns { row: 2, count: 600 })
    ));
    assert_eq!(results[1].as_ref().unwrap().cells, ["ok", "fine"]);
}

#[test]
fn rejects_a_cell_over_32_kib_naming_row_and_column_but_not_content() {
    let secret = "s".repeat(MAX_CELL_BYTES + 1);
    let text = format!("name,note\nAnn,ok\nBob,{secret}\nCy,ok\n");
    let results: Vec<_> = open_csv(text.as_bytes()).collect();
    let err = results[1].as_ref().unwrap_err();
    assert!(
        matches!(
            err,
            TabularError::CellTooLong {
                row: 3,
                column: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("row 3, column 2"));
    assert!(!err.to_string().contains("sss"));
    assert_eq!(results[2].as_ref().unwrap().cells, ["Cy", "ok"]);
    let exact = format!("name\n{}\n", "s".repeat(MAX_CELL_BYTES));
    assert_eq!(
        rows(open_csv(exact.as_bytes()))[0].cells[0].len(),
        MAX_CELL_BYTES
    );
}

#[test]
fn an_unclosed_quote_in_a_huge_file_fails_instead_of_buffering_it() {
    let mut bytes = b"name,note\nAnn,\"never closed\n".to_vec();
    let filler = b"more text that lands inside the open quote\n";
    while bytes.len() < 40 * 1024 * 1024 {
        bytes.extend_from_slice(filler);
    }
    let results: Vec<_> = open_csv(&bytes).collect();
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err();
    assert!(
        matches!(err, TabularError::RowTooLarge { line: 2 }),
        "{err}"
    );
}

#[test]
fn open_and_count_agree_on_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "c.txt", b"a,b\r\n1,2\r\n\r\n,\r\n\"x\ny\",3\r\n4,5");
    assert_eq!(count_data_rows(&path, None).unwrap(), 3);
    assert_eq!(
        rows(Table::open(&path, None, Encoding::Auto).unwrap()).len(),
        3
    );
    let empty = write_file(&dir, "empty.csv", b"");
    assert_eq!(count_data_rows(&empty, None).unwrap(), 0);
}

#[test]
fn rejects_utf16_text_and_legacy_xls_with_a_hint() {
    let utf16 = b"\xFF\xFEn\x00a\x00m\x00e\x00".to_vec();
    let err = Table::from_bytes(utf16, None, Encoding::Auto).unwrap_err();
    assert!(matches!(err, TabularError::UnsupportedFormat(_)), "{err}");
    let xls = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest".to_vec();
    let err = Table::from_bytes(xls, None, Encoding::Auto).unwrap_err();
    assert!(err.to_string().contains(".xls"), "{err}");
}

#[test]
fn format_comes_from_the_extension_or_the_zip_signature() {
    assert_eq!(Format::from_path(Path::new("a.CSV")), Some(Format::Csv));
    assert_eq!(Format::from_path(Path::new("a.tsv")), Some(Format::Csv));
    assert_eq!(Format::from_path(Path::new("a.txt")), Some(Format::Csv));
    assert_eq!(Format::from_path(Path::new("a.xlsx")), Some(Format::Xlsx));
    assert_eq!(Format::from_path(Path::new("a.xlsm")), Some(Format::Xlsx));
    assert_eq!(Format::from_path(Path::new("a.pdf")), None);
    assert_eq!(Format::from_path(Path::new("noext")), None);
    assert_eq!(Format::sniff(b"PK\x03\x04rest"), Format::Xlsx);
    assert_eq!(Format::sniff(b"name,email"), Format::Csv);
}

#[test]
fn encoding_names_parse_in_any_case() {
    let cases = [
        ("auto", Encoding::Auto),
        ("UTF-8", Encoding::Utf8),
        ("utf8", Encoding::Utf8),
        ("GBK", Encoding::Gbk),
    ];
    for (name, want) in cases {
        assert_eq!(name.parse::<Encoding>().unwrap(), want);
    }
    assert_eq!("gb2312".parse::<Encoding>().unwrap(), Encoding::Gbk);
    assert_eq!("gb18030".parse::<Encoding>().unwrap(), Encoding::Gbk);
    assert!(matches!(
        "latin1".parse::<Encoding>(),
        Err(TabularError::UnknownEncoding(_))
    ));
}

mod xlsx {
    use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Workbook};

    use super::*;

    /// A workbook as a CRM export makes it: a title-free header on row 1, a mobile stored as a
    /// number, a date, blank rows in between.
    fn crm_workbook() -> Vec<u8> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        let date = CellFormat::new().set_num_format("yyyy-mm-dd");
        let datetime = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        for (col, header) in ["姓名", "手机", "注册日期", "金额", "已验证", "最后登录"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, col as u16, *header).unwrap();
        }
        sheet.write_string(1, 0, " 张三 ").unwrap();
        sheet.write_number(1, 1, 13_800_138_000.0).unwrap();
        sheet
            .write_datetime_with_format(1, 2, ExcelDateTime::from_ymd(2024, 3, 5).unwrap(), &date)
            .unwrap();
        sheet.write_number(1, 3, 1234.5).unwrap();
        sheet.write_boolean(1, 4, true).unwrap();
        let login = ExcelDateTime::from_ymd(2024, 3, 6)
            .unwrap()
            .and_hms(9, 30, 0)
            .unwrap();
        sheet
            .write_datetime_with_format(1, 5, login, &datetime)
            .unwrap();
        // Row 3 is left blank; row 4 has a formatted but empty cell; row 5 has a short row.
        sheet.write_string(3, 0, "").unwrap();
        sheet.write_string(4, 0, "李四").unwrap();
        sheet.write_number(4, 1, 13_900_139_000_f64).unwrap();
        workbook.save_to_buffer().unwrap()
    }

    #[test]
    fn renders_numeric_mobiles_dates_and_keeps_sheet_row_numbers() {
        let table = Table::from_bytes(crm_workbook(), None, Encoding::Auto).unwrap();
        assert_eq!(table.format, Format::Xlsx);
        assert_eq!(table.detected_encoding, Encoding::Utf8);
        assert_eq!(
            table.headers,
            ["姓名", "手机", "注册日期", "金额", "已验证", "最后登录"]
        );
        assert_eq!(
            rows(table),
            [
                row(
                    2,
                    &[
                        "张三",
                        "13800138000",
                        "2024-03-05",
                        "1234.5",
                        "TRUE",
                        "2024-03-06 09:30:00"
                    ]
                ),
                row(5, &["李四", "13900139000", "", "", "", ""]),
            ]
        );
    }

    #[test]
    fn opens_a_workbook_by_signature_even_with_a_csv_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "renamed.csv", &crm_workbook());
        let table = Table::open(&path, None, Encoding::Auto).unwrap();
        assert_eq!(table.format, Format::Xlsx);
        assert_eq!(rows(table).len(), 2);
        assert_eq!(count_data_rows(&path, None).unwrap(), 2);
        let named = write_file(&dir, "crm.xlsx", &crm_workbook());
        assert_eq!(count_data_rows(&named, Some(Format::Xlsx)).unwrap(), 2);
    }

    #[test]
    fn header_is_the_first_non_empty_row_of_the_first_sheet() {
        let mut workbook = Workbook::new();
        let first = workbook.add_worksheet();
        first.write_string(2, 1, "Email").unwrap();
        first.write_string(3, 1, "ann@example.com").unwrap();
        workbook
            .add_worksheet()
            .write_string(0, 0, "other sheet")
            .unwrap();
        let table = Table::from_bytes(
            workbook.save_to_buffer().unwrap(),
            Some(Format::Xlsx),
            Encoding::Auto,
        )
        .unwrap();
        assert_eq!(table.headers, ["Email"]);
        assert_eq!(rows(table), [row(4, &["ann@example.com"])]);
    }

    #[test]
    fn an_empty_sheet_has_no_header() {
        let mut workbook = Workbook::new();
        workbook.add_worksheet();
        let err = Table::from_bytes(workbook.save_to_buffer().unwrap(), None, Encoding::Auto)
            .unwrap_err();
        assert!(matches!(err, TabularError::NoHeader), "{err}");
    }

    #[test]
    fn a_broken_workbook_is_a_clear_error() {
        let err = Table::from_bytes(
            b"PK\x03\x04 not really a zip".to_vec(),
            None,
            Encoding::Auto,
        )
        .unwrap_err();
        assert!(matches!(err, TabularError::Workbook(_)), "{err}");
    }
}
