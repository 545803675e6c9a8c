use std::fmt;

use crate::workbook::{MAX_PART_BYTES, MAX_SHEET_COLUMNS, MAX_SHEET_ROWS};
use crate::{MAX_CELL_BYTES, MAX_COLUMNS};

const RESAVE: &str = "open it in Excel and save it again, or export the sheet as CSV";

/// Why a file or a row could not be read. Messages name the row (and column) so a person can find
/// the place to fix, and never quote a cell: cells are personal data and these messages are logged.
#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file has no header row: it is empty or every row is blank")]
    NoHeader,
    #[error("row {row} has {count} columns; at most {MAX_COLUMNS} are supported")]
    TooManyColumns { row: u64, count: usize },
    #[error("row {row}, column {column}: the cell is {bytes} bytes long; at most {MAX_CELL_BYTES} are supported")]
    CellTooLong {
        row: u64,
        column: usize,
        bytes: usize,
    },
    #[error(
        "row {row} is not valid UTF-8; if the file was saved by Excel or WPS on Chinese Windows, \
         import it with the GBK encoding"
    )]
    InvalidUtf8 { row: u64 },
    #[error(
        "the row starting at line {line} is larger than any valid row; a quoted cell is probably \
         never closed"
    )]
    RowTooLarge { line: u64 },
    #[error("row {row} could not be parsed as CSV: {message}")]
    Csv { row: u64, message: String },
    #[error("the workbook could not be read: {0}")]
    Workbook(#[source] calamine::XlsxError),
    #[error("the workbook has no worksheet")]
    NoWorksheet,
    #[error(
        "the workbook is too large once unpacked: its part `{part}` is {} bytes; at most {} are \
         supported, so export the sheet as CSV",
        Grouped(*.bytes),
        Grouped(MAX_PART_BYTES)
    )]
    WorkbookPartTooLarge { part: String, bytes: u64 },
    #[error(
        "the workbook declares {} shared strings; the limit is {} for this file, so it is probably \
         damaged: {RESAVE}",
        Grouped(*.declared),
        Grouped(*.limit)
    )]
    TooManySharedStrings { declared: u64, limit: u64 },
    #[error(
        "the first sheet declares its used range as `{reference}`, which is not a range from a \
         top-left to a bottom-right cell, so the workbook is probably damaged: {RESAVE}"
    )]
    InvalidSheetRange { reference: String },
    #[error(
        "the first sheet declares a used range of {} rows × {} columns ({reference}); at most {} \
         rows × {} columns are supported: delete what lies beyond the data, or export the sheet as \
         CSV",
        Grouped(*.rows),
        Grouped(*.columns),
        Grouped(MAX_SHEET_ROWS),
        Grouped(MAX_SHEET_COLUMNS)
    )]
    SheetTooLarge {
        reference: String,
        rows: u64,
        columns: u64,
    },
    #[error(
        "the first sheet refers to cell `{reference}`, beyond Excel's last cell XFD1048576, so the \
         workbook is damaged: {RESAVE}"
    )]
    CellOutOfRange { reference: String },
    #[error("{0} files are not supported; save the file as CSV (UTF-8) or as an .xlsx workbook")]
    UnsupportedFormat(&'static str),
    #[error("unknown encoding `{0}`; use auto, utf-8 or gbk")]
    UnknownEncoding(String),
}

impl From<calamine::XlsxError> for TabularError {
    fn from(e: calamine::XlsxError) -> Self {
        match e {
            calamine::XlsxError::Io(io) => TabularError::Io(io),
            other => TabularError::Workbook(other),
        }
    }
}

/// A count with thousands separators: `900,000,000`.
struct Grouped(u64);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, shown) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (16_384, "16,384"),
            (900_000_000, "900,000,000"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(Grouped(n).to_string(), shown);
        }
    }
}
