//! Reads the tabular files an import starts from (CSV exported by Excel, WPS or a CRM, often in GBK;
//! XLSX workbooks) into rows of trimmed strings.
//!
//! CSV is streamed: a file of a million rows is never held in memory, and a malformed one (an
//! unclosed quote) fails on the row where it breaks instead of swallowing the rest of the file.
//! XLSX sheets are read whole (see [`Format::Xlsx`]).
//!
//! Row numbers are the ones a person finds when they open the file to fix it: the header is row 1,
//! blank rows keep their numbers, and a CSV record spanning several lines is numbered by the line it
//! starts on. Errors name rows and columns, never cell contents, which are personal data.

mod delimited;
mod error;
mod lines;
mod transcode;
mod workbook;

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::str::FromStr;

pub use error::TabularError;

use delimited::DelimitedRows;
use workbook::WorkbookRows;

/// The most columns a file may have; more is almost always a broken export.
pub const MAX_COLUMNS: usize = 500;
/// The largest cell, in bytes of UTF-8 after trimming.
pub const MAX_CELL_BYTES: usize = 32 * 1024;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// The container of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text: comma, semicolon or tab, detected from the header line.
    Csv,
    /// An Excel workbook; only the first worksheet is read. The sheet is loaded into memory whole
    /// (the reader needs the shared-strings table and cell positions up front), so very large imports
    /// (hundreds of thousands of rows) should be sent as CSV.
    Xlsx,
}

impl Format {
    /// The format named by the file's extension: `csv`, `txt`, `tsv` are CSV; `xlsx`, `xlsm` XLSX.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Some(Format::Csv),
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            _ => None,
        }
    }

    /// The format the first bytes of a file show: a ZIP archive is a workbook, anything else text.
    pub fn sniff(prefix: &[u8]) -> Format {
        if prefix.starts_with(ZIP_MAGIC) {
            Format::Xlsx
        } else {
            Format::Csv
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// The character encoding of a CSV file. Excel and WPS on Chinese Windows save "CSV" in GBK, so
/// `Auto` tells the two apart from the first 64 KiB. GBK is decoded as GB18030, its superset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Auto,
    Utf8,
    Gbk,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Auto => "auto",
            Encoding::Utf8 => "utf-8",
            Encoding::Gbk => "gbk",
        }
    }
}

impl FromStr for Encoding {
    type Err = TabularError;

    /// Accepts `auto`, `utf-8`/`utf8`, and `gbk`/`gb2312`/`gb18030` (all read as GB18030), in any case.
    fn from_str(s: &str) -> Result<Self, TabularError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Encoding::Auto),
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "gbk" | "gb2312" | "gb18030" => Ok(Encoding::Gbk),
            _ => Err(TabularError::UnknownEncoding(s.to_owned())),
        }
    }
}

/// One data row. `cells` has at least as many entries as the header (short rows are padded with
/// empty strings); cells beyond the header are kept only when not empty, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based row number as shown by a spreadsheet or text editor; the header is row 1.
    pub number: u64,
    pub cells: Vec<String>,
}

/// An open import file: its header and an iterator over its data rows.
///
/// Rows that break a limit (a cell too long, too many columns, bytes that are not UTF-8) come out as
/// `Err` and iteration goes on with the next row; an I/O error or an unclosed quote ends it.
/// Rows whose cells are all empty are skipped.
pub struct Table {
    /// Header cells, trimmed, with trailing empty ones dropped; never empty.
    pub headers: Vec<String>,
    /// `Utf8` or `Gbk` for CSV (never `Auto`); `Utf8` for XLSX, which is always Unicode.
    pub detected_encoding: Encoding,
    pub format: Format,
    rows: Rows,
}

enum Rows {
    Delimited(DelimitedRows),
    Workbook(WorkbookRows),
}

impl Table {
    /// Opens a file. Without a `format`, a ZIP signature means XLSX, then the extension decides, and
    /// anything else is read as CSV.
    pub fn open(
        path: &Path,
        format: Option<Format>,
        encoding: Encoding,
    ) -> Result<Table, TabularError> {
        let mut file = File::open(path)?;
        match format_of_file(&mut file, path, format)? {
            Format::Csv => Table::delimited(Box::new(file), encoding),
            Format::Xlsx => Table::workbook(std::io::BufReader::new(file)),
        }
    }

    /// Reads a file already in memory, such as an upload.
    pub fn from_bytes(
        bytes: Vec<u8>,
        format: Option<Format>,
        encoding: Encoding,
    ) -> Result<Table, TabularError> {
        let format = match format {
            Some(format) => format,
            None => resolve_format(&bytes, None)?,
        };
        match format {
            Format::Csv => Table::delimited(Box::new(Cursor::new(bytes)), encoding),
            Format::Xlsx => Table::workbook(Cursor::new(bytes)),
        }
    }

    fn delimited(input: Box<dyn Read + Send>, encoding: Encoding) -> Result<Table, TabularError> {
        let (headers, detected_encoding, rows) = DelimitedRows::open(input, encoding)?;
        Ok(Table {
            headers,
            detected_encoding,
            format: Format::Csv,
            rows: Rows::Delimited(rows),
        })
    }

    fn workbook<RS: Read + Seek>(input: RS) -> Result<Table, TabularError> {
        let (headers, rows) = WorkbookRows::open(input)?;
        Ok(Table {
            headers,
            detected_encoding: Encoding::Utf8,
            format: Format::Xlsx,
            rows: Rows::Workbook(rows),
        })
    }
}

impl Iterator for Table {
    type Item = Result<Row, TabularError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.rows {
            Rows::Delimited(rows) => rows.next(),
            Rows::Workbook(rows) => rows.next(),
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("columns", &self.headers.len())
            .field("detected_encoding", &self.detected_encoding)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Counts the data rows of a file (not the header, not blank rows) to size a progress bar, without
/// decoding cells. The count can differ from what [`Table`] yields when rows are rejected.
pub fn count_data_rows(path: &Path, format: Option<Format>) -> Result<u64, TabularError> {
    let mut file = File::open(path)?;
    match format_of_file(&mut file, path, format)? {
        Format::Csv => delimited::count_records(Box::new(file)),
        Format::Xlsx => workbook::count_rows(std::io::BufReader::new(file)),
    }
}

/// The format to read `file` as: the caller's choice, else what its first bytes and its name say.
/// Leaves the file at its start.
fn format_of_file(
    file: &mut File,
    path: &Path,
    chosen: Option<Format>,
) -> Result<Format, TabularError> {
    if let Some(format) = chosen {
        return Ok(format);
    }
    let magic = read_prefix(file, OLE_MAGIC.len())?;
    file.seek(SeekFrom::Start(0))?;
    resolve_format(&magic, Format::from_path(path))
}

fn resolve_format(prefix: &[u8], by_extension: Option<Format>) -> Result<Format, TabularError> {
    if prefix.starts_with(ZIP_MAGIC) {
        return Ok(Format::Xlsx);
    }
    if prefix.starts_with(OLE_MAGIC) {
        return Err(TabularError::UnsupportedFormat("legacy Excel (.xls)"));
    }
    Ok(by_extension.unwrap_or(Format::Csv))
}

/// Reads up to `limit` bytes, fewer only at the end of the input.
fn read_prefix(input: &mut impl Read, limit: usize) -> Result<Vec<u8>, TabularError> {
    let mut prefix = Vec::with_capacity(limit);
    input.take(limit as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}
