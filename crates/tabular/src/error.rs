use crate::{MAX_CELL_BYTES, MAX_COLUMNS};

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
