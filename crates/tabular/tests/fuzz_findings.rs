//! Bugs the fuzz targets found (see docs/fuzzing.md), each reproduced with its minimised input.

use hatchery_tabular::{Encoding, Format, Table, TabularError};

fn csv(bytes: &[u8]) -> Table {
    Table::from_bytes(bytes.to_vec(), Some(Format::Csv), Encoding::Auto).unwrap()
}

/// Found by `tabular_csv` ("row 1 after row 1"), with what minimising it showed: the CSV parser
/// ends a record at the end of input even inside a quoted cell, so a quote never closed silently
/// swallowed the rest of the file into one cell (when smaller than the row size limit), and the row
/// was numbered a line too early — as the header, when on the first data row. It is now an error
/// naming the line the row starts on, as the crate promises.
#[test]
fn a_quote_left_open_fails_its_row_naming_the_line_it_starts_on() {
    for (bytes, line) in [
        (&b"name\tmobile\n\"open\t1\n"[..], 2),
        (b"name\tmobile\n\"open\t1", 2),
        (b"name,note\n\nAnn,\"open\nBob,x\r\nCy,y\n", 3),
        (b"name\nAnn\n\"an \"\"escaped\"\" quote, then none\n", 3),
    ] {
        let mut results: Vec<_> = csv(bytes).collect();
        let err = results.pop().unwrap().unwrap_err();
        assert!(results.iter().all(Result::is_ok), "{bytes:?}");
        assert!(
            matches!(err, TabularError::Csv { row, .. } if row == line),
            "{bytes:?}: {err}"
        );
        assert!(err.to_string().contains("never closed"));
    }
    let err =
        Table::from_bytes(b"\"name\n".to_vec(), Some(Format::Csv), Encoding::Auto).unwrap_err();
    assert!(matches!(err, TabularError::Csv { row: 1, .. }), "{err}");
}

#[test]
fn a_closed_quote_ending_in_a_line_break_at_the_end_is_still_a_row() {
    for bytes in [
        &b"name,note\nAnn,\"two\nlines\n\"\n"[..],
        b"name,note\nAnn,\"two\nlines\n\"",
        b"name,note\r\nAnn,\"two\r\nlines\r\n\"\r\n",
        b"name,note\nAnn,\"quoted \"\"\"\n",
    ] {
        let rows: Vec<_> = csv(bytes).map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "{bytes:?}");
        assert_eq!(rows[0].number, 2, "{bytes:?}");
    }
}

/// Found by `tabular_xlsx`: calamine 0.38's `get_dimension` subtracts the range's start from its
/// end unchecked, so a `<dimension ref="A2:B1"/>` panicked with overflow checks on (debug builds,
/// tests) and wrapped silently in release builds. The dimension is now checked before calamine
/// reads the sheet.
#[test]
fn a_backwards_dimension_is_refused_as_a_damaged_workbook() {
    let err = xlsx(include_bytes!("fuzz_findings/reversed_dimension.xlsx")).unwrap_err();
    assert!(
        matches!(&err, TabularError::InvalidSheetRange { reference } if reference == "A2:B1"),
        "{err}"
    );
    assert!(err.to_string().contains("`A2:B1`"), "{err}");
    assert!(err.to_string().contains("save it again"), "{err}");
}

/// Found by crafting what the `tabular_xlsx` target reports with AddressSanitizer: calamine 0.38
/// reserves room for the shared-strings table's `uniqueCount` before reading it (upstream issue
/// tafia/calamine#684), so a workbook claiming 10^11 strings asked for 2.4 TB and the allocation
/// failure aborted the whole process (the server, for an uploaded import). A table can hold no more
/// strings than one per 5 bytes, and no more than 2^24, so this one (173 bytes) is refused.
#[test]
fn a_huge_shared_strings_count_is_refused_without_aborting() {
    let err = xlsx(include_bytes!(
        "fuzz_findings/huge_shared_strings_count.xlsx"
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            TabularError::TooManySharedStrings {
                declared: 100_000_000_000,
                limit: 34
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("the workbook declares 100,000,000,000 shared strings; the limit is 34"),
        "{err}"
    );
}

/// Found by crafting an input for the `tabular_xlsx` target after the two above: calamine 0.38
/// builds a sheet as a dense grid from its first to its last cell, so a valid 1.6 KB workbook with
/// one value in A1 and one in XFD1048576 (Excel's last cell) asked for 512 GiB and aborted the
/// process. Cells are now streamed and only the filled ones kept: the far cell fails its row, as
/// too many columns in any row do.
#[test]
fn a_value_in_the_last_cell_of_a_sheet_fails_its_row_only() {
    let mut table = xlsx(include_bytes!("fuzz_findings/far_cell.xlsx")).unwrap();
    assert_eq!(table.headers, ["email"]);
    let err = table.next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            TabularError::TooManyColumns {
                row: 1_048_576,
                count: 16_384
            }
        ),
        "{err}"
    );
    assert!(table.next().is_none());
}

fn xlsx(bytes: &[u8]) -> Result<Table, TabularError> {
    Table::from_bytes(bytes.to_vec(), Some(Format::Xlsx), Encoding::Auto)
}
