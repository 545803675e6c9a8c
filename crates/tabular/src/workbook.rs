//! XLSX workbooks: the first worksheet, read cell by cell and kept as its filled cells.
//!
//! calamine's `Range` is a dense grid from a sheet's first to its last cell, so one value in A1 and
//! one in XFD1048576 would ask for 512 GiB. The cells are read through its streaming cell reader
//! instead and only the filled ones kept, grouped by row, so memory follows the data. Before that,
//! [`inspect`] refuses what would make calamine abort or panic.
//!
//! Rows and columns are those of the sheet's filled area: the header is the first row with a
//! filled cell and column 1 is the leftmost column with a value anywhere in the sheet (as calamine
//! numbers them).

mod inspect;

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use calamine::{DataRef, ExcelDateTime, Reader, Xlsx, XlsxError};

use crate::{Row, TabularError, MAX_CELL_BYTES, MAX_COLUMNS};

pub(crate) use inspect::{MAX_PART_BYTES, MAX_SHEET_COLUMNS, MAX_SHEET_ROWS};

/// Integral numbers below this render without a decimal point; beyond it a double no longer holds
/// every integer exactly, so the shortest round-trip form is kept instead.
const EXACT_INTEGER_LIMIT: f64 = 1e15;
const SECONDS_PER_DAY: f64 = 86_400.0;

pub(crate) struct WorkbookRows {
    rows: std::iter::Peekable<std::vec::IntoIter<SheetRow>>,
    /// Shared strings the cells refer to, trimmed.
    strings: Vec<Box<str>>,
    /// 0-based sheet column of the filled area's first column.
    first_column: u32,
    width: usize,
}

impl WorkbookRows {
    pub(crate) fn open<RS: Read + Seek>(
        input: RS,
    ) -> Result<(Vec<String>, WorkbookRows), TabularError> {
        let mut sheet = Collector::default();
        for_each_cell(input, |position, value| sheet.add(position, value))?;
        let mut rows = sheet.finish();
        match rows.next_cells() {
            None => Err(TabularError::NoHeader),
            Some(Err(e)) => Err(e),
            Some(Ok((_, headers))) => {
                rows.width = headers.len();
                Ok((headers, rows))
            }
        }
    }

    pub(crate) fn next(&mut self) -> Option<Result<Row, TabularError>> {
        let width = self.width;
        self.next_cells().map(|result| {
            result.map(|(number, mut cells)| {
                if cells.len() < width {
                    cells.resize(width, String::new());
                }
                Row { number, cells }
            })
        })
    }

    /// The next row with a filled cell: its sheet row number (1-based) and its cells, trailing
    /// empty ones dropped.
    fn next_cells(&mut self) -> Option<Result<(u64, Vec<String>), TabularError>> {
        loop {
            let first = self.rows.next()?;
            let index = first.index;
            // A row written in pieces (out of order) is read as one; of two values for a cell, the
            // later one counts.
            let mut pieces = vec![first];
            while let Some(more) = self.rows.next_if(|row| row.index == index) {
                pieces.push(more);
            }
            if let Some(result) = self.render_row(u64::from(index) + 1, &pieces) {
                return Some(result);
            }
        }
    }

    /// The cells of row `number`, or `None` if it has no filled cell.
    fn render_row(
        &self,
        number: u64,
        pieces: &[SheetRow],
    ) -> Option<Result<(u64, Vec<String>), TabularError>> {
        let mut cells: Vec<(u32, &str, Value)> = Vec::new();
        let mut overflow = None;
        for piece in pieces {
            overflow = overflow.max(piece.overflow);
            cells.extend(
                piece
                    .cells
                    .iter()
                    .map(|c| (c.column, &*piece.text, c.value)),
            );
        }
        cells.sort_by_key(|(column, ..)| *column);
        cells.reverse();
        cells.dedup_by_key(|(column, ..)| *column);
        cells.reverse();
        let last = cells.last().map(|(column, ..)| *column).max(overflow)?;
        let filled = last.saturating_sub(self.first_column) as usize + 1;
        if filled > MAX_COLUMNS {
            return Some(Err(TabularError::TooManyColumns {
                row: number,
                count: filled,
            }));
        }
        let mut row = vec![String::new(); filled];
        for (column, text, value) in cells {
            let index = column.saturating_sub(self.first_column) as usize;
            let rendered = match value {
                Value::TooLong(bytes) => Err(bytes),
                Value::Shared(i) => {
                    let s = self.strings.get(i as usize).map_or("", |s| &**s);
                    if s.len() > MAX_CELL_BYTES {
                        Err(s.len())
                    } else {
                        Ok(s.to_owned())
                    }
                }
                value => Ok(render(value, text)),
            };
            match rendered {
                Ok(cell) => row[index] = cell,
                Err(bytes) => {
                    return Some(Err(TabularError::CellTooLong {
                        row: number,
                        column: index + 1,
                        bytes,
                    }))
                }
            }
        }
        Some(Ok((number, row)))
    }
}

/// Counts the sheet's rows with a filled cell after the header.
pub(crate) fn count_rows<RS: Read + Seek>(input: RS) -> Result<u64, TabularError> {
    let mut rows: Vec<u32> = Vec::new();
    for_each_cell(input, |(row, _), value| {
        if !is_blank(value) && rows.last() != Some(&row) {
            rows.push(row);
        }
    })?;
    rows.sort_unstable();
    rows.dedup();
    Ok((rows.len() as u64).saturating_sub(1))
}

/// Checks the workbook (see [`inspect`]), then calls `visit` with each cell of its first sheet, in
/// the order of the file, with its 0-based (row, column).
fn for_each_cell<RS, F>(mut input: RS, mut visit: F) -> Result<(), TabularError>
where
    RS: Read + Seek,
    F: FnMut((u32, u32), &DataRef<'_>),
{
    inspect::inspect(&mut input)?;
    input.seek(SeekFrom::Start(0))?;
    let mut workbook: Xlsx<RS> = Xlsx::new(input)?;
    let name = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or(TabularError::NoWorksheet)?;
    let mut cells = match workbook.worksheet_cells_reader(&name) {
        Ok(cells) => cells,
        // A chart sheet: no cells (calamine reads it as an empty range).
        Err(XlsxError::NotAWorksheet(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    while let Some(cell) = cells.next_cell()? {
        visit(cell.get_position(), cell.get_value());
    }
    Ok(())
}

/// A kept cell: its 0-based sheet column and value.
#[derive(Clone, Copy)]
struct Cell {
    column: u32,
    value: Value,
}

/// A filled cell's value, as small as it stays: text lives in its row's buffer, shared strings
/// once in [`WorkbookRows::strings`], anything else is rendered when its row is read.
#[derive(Clone, Copy)]
enum Value {
    /// A span of the row's text, already trimmed.
    Text {
        start: u32,
        len: u32,
    },
    Shared(u32),
    /// A text over the cell size limit, of this many bytes.
    TooLong(usize),
    Int(i64),
    Float(f64),
    Bool(bool),
    DateTime(ExcelDateTime),
}

/// The cells of a row, or of part of one when a file writes a row in pieces.
struct SheetRow {
    /// 0-based sheet row.
    index: u32,
    text: Box<str>,
    cells: Box<[Cell]>,
    /// The rightmost column of a filled cell too far right to be kept: the row has too many columns.
    overflow: Option<u32>,
}

/// Keeps the filled cells of a sheet as they stream by.
#[derive(Default)]
struct Collector {
    rows: Vec<SheetRow>,
    in_order: bool,
    /// The row being read: its index, text and cells.
    current: Option<SheetRow>,
    text: String,
    cells: Vec<Cell>,
    /// Shared strings by their place in the workbook's table (which outlives the collector), so that
    /// a string used by many cells is kept once.
    shared: HashMap<(usize, usize), u32>,
    strings: Vec<Box<str>>,
    first_column: Option<u32>,
}

impl Collector {
    fn add(&mut self, (row, column): (u32, u32), value: &DataRef<'_>) {
        if matches!(value, DataRef::Empty) {
            return;
        }
        // Like calamine's range, any value (even blank text) extends the area to the left.
        let first_column = self.first_column.map_or(column, |c| c.min(column));
        self.first_column = Some(first_column);
        if is_blank(value) {
            return;
        }
        if self.current.as_ref().is_none_or(|r| r.index != row) {
            self.end_row();
            self.current = Some(SheetRow {
                index: row,
                text: Box::default(),
                cells: Box::default(),
                overflow: None,
            });
        }
        let Some(current) = self.current.as_mut() else {
            return;
        };
        // Columns only grow from here as the first column can only move left: a cell this far
        // right will never fit, and neither will its row.
        if u64::from(column) >= u64::from(first_column) + MAX_COLUMNS as u64 {
            current.overflow = current.overflow.max(Some(column));
            self.text.clear();
            self.cells.clear();
            return;
        }
        if current.overflow.is_some() {
            return;
        }
        let value = match value {
            DataRef::Int(i) => Value::Int(*i),
            DataRef::Float(f) => Value::Float(*f),
            DataRef::Bool(b) => Value::Bool(*b),
            DataRef::DateTime(dt) => Value::DateTime(*dt),
            DataRef::SharedString(s) => self.intern(s),
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
                push_text(&mut self.text, s.trim())
            }
            DataRef::Error(e) => push_text(&mut self.text, &e.to_string()),
            DataRef::Empty => return,
        };
        let cell = Cell { column, value };
        match self.cells.last_mut() {
            Some(last) if last.column == column => *last = cell,
            _ => self.cells.push(cell),
        }
    }

    fn intern(&mut self, s: &str) -> Value {
        let key = (s.as_ptr() as usize, s.len());
        let next = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        let index = *self.shared.entry(key).or_insert(next);
        if index == next {
            self.strings.push(s.trim().into());
        }
        Value::Shared(index)
    }

    fn end_row(&mut self) {
        let Some(mut row) = self.current.take() else {
            return;
        };
        row.text = self.text.as_str().into();
        row.cells = self.cells.as_slice().into();
        self.text.clear();
        self.cells.clear();
        if let Some(previous) = self.rows.last() {
            self.in_order &= previous.index < row.index;
        } else {
            self.in_order = true;
        }
        self.rows.push(row);
    }

    fn finish(mut self) -> WorkbookRows {
        self.end_row();
        if !self.in_order {
            // Stable: the pieces of a row keep their order, and so which value of a cell counts.
            self.rows.sort_by_key(|row| row.index);
        }
        WorkbookRows {
            rows: self.rows.into_iter().peekable(),
            strings: self.strings,
            first_column: self.first_column.unwrap_or(0),
            width: 0,
        }
    }
}

/// Appends a trimmed text to a row's buffer; too long a text is not kept, only its size.
fn push_text(buffer: &mut String, text: &str) -> Value {
    if text.len() > MAX_CELL_BYTES {
        return Value::TooLong(text.len());
    }
    match (
        u32::try_from(buffer.len()),
        u32::try_from(buffer.len() + text.len()),
    ) {
        (Ok(start), Ok(_)) => {
            buffer.push_str(text);
            Value::Text {
                start,
                len: text.len() as u32,
            }
        }
        // A row's text beyond 4 GiB: only a file repeating a cell could get there.
        _ => Value::TooLong(text.len()),
    }
}

/// Whether a cell shows nothing once trimmed.
fn is_blank(value: &DataRef<'_>) -> bool {
    match value {
        DataRef::Empty => true,
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            s.trim().is_empty()
        }
        DataRef::SharedString(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A cell as the person sees it in Excel, trimmed: whole numbers without `.0` (a mobile stored as a
/// number stays `13800138000`), dates as `YYYY-MM-DD`, date-times as `YYYY-MM-DD HH:MM:SS`. `text`
/// is the buffer of the cell's row; shared and too-long texts are handled by the caller.
fn render(value: Value, text: &str) -> String {
    match value {
        Value::Text { start, len } => {
            let (start, len) = (start as usize, len as usize);
            text.get(start..start + len).unwrap_or_default().to_owned()
        }
        Value::Shared(_) | Value::TooLong(_) => String::new(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => render_number(f),
        Value::Bool(b) => if b { "TRUE" } else { "FALSE" }.to_owned(),
        Value::DateTime(dt) => {
            let serial = dt.as_f64();
            if dt.is_duration() {
                return render_clock(serial);
            }
            if (0.0..1.0).contains(&serial) {
                // A time of day with no date.
                return render_clock(serial);
            }
            match dt.as_datetime() {
                Some(moment) if serial.fract() == 0.0 => moment.date().to_string(),
                Some(moment) => moment.to_string(),
                None => render_number(serial),
            }
        }
    }
}

fn render_number(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT_INTEGER_LIMIT {
        // Exact: integral and within the range where f64 holds every integer.
        #[expect(clippy::cast_possible_truncation, reason = "integral and below 1e15")]
        let whole = f as i64;
        whole.to_string()
    } else {
        f.to_string()
    }
}

/// `H:MM:SS` for a duration or time of day given in days.
fn render_clock(days: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "rounded, and far below i64::MAX for any sheet"
    )]
    let total = (days * SECONDS_PER_DAY).round() as i64;
    let (sign, total) = if total < 0 {
        ("-", -total)
    } else {
        ("", total)
    };
    format!(
        "{sign}{}:{:02}:{:02}",
        total / 3600,
        total / 60 % 60,
        total % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_render_without_a_decimal_point() {
        assert_eq!(render_number(13_800_138_000.0), "13800138000");
        assert_eq!(render_number(-42.0), "-42");
        assert_eq!(render_number(0.0), "0");
        assert_eq!(render_number(3.25), "3.25");
        assert_eq!(render_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(render_number(1e20), "100000000000000000000");
    }

    /// A shared string used by many cells is kept once, however long: a 30 KB text in a million
    /// cells costs 30 KB, not 30 GB.
    #[test]
    fn a_shared_string_is_kept_once_for_all_its_cells() {
        let table = [" long text ".repeat(2_500), "other".to_owned()];
        let mut sheet = Collector::default();
        for row in 0..1_000 {
            sheet.add((row, 0), &DataRef::SharedString(&table[0]));
            sheet.add((row, 1), &DataRef::SharedString(&table[1]));
        }
        let mut rows = sheet.finish();
        assert_eq!(rows.strings.len(), 2);
        let (number, cells) = rows.next_cells().unwrap().unwrap();
        assert_eq!(number, 1);
        assert_eq!(cells, [table[0].trim(), "other"]);
        assert_eq!(rows.rows.len(), 999);
    }

    #[test]
    fn cells_too_far_right_are_not_kept() {
        let mut sheet = Collector::default();
        sheet.add((0, 2), &DataRef::Int(1));
        for column in 502..20_000 {
            sheet.add((1, column), &DataRef::Float(2.5));
        }
        sheet.add((2, 3), &DataRef::Bool(true));
        sheet.add((3, 0), &DataRef::String("   ".to_owned()));
        assert!(sheet.rows[1].cells.is_empty());
        let mut rows = sheet.finish();
        // The blank text in column A moves the first column left.
        assert_eq!(
            rows.next_cells().unwrap().unwrap(),
            (1, vec![String::new(), String::new(), "1".to_owned()])
        );
        let err = rows.next_cells().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                TabularError::TooManyColumns {
                    row: 2,
                    count: 20_000
                }
            ),
            "{err}"
        );
        assert_eq!(rows.next_cells().unwrap().unwrap().1, ["", "", "", "TRUE"]);
        assert!(rows.next_cells().is_none());
    }

    #[test]
    fn clock_values_render_as_hours_minutes_seconds() {
        assert_eq!(render_clock(0.5), "12:00:00");
        assert_eq!(render_clock(1.25), "30:00:00");
        assert_eq!(render_clock(1.0 / 86_400.0 * 61.0), "0:01:01");
    }
}
