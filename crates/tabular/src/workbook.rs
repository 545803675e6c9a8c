//! XLSX workbooks: the first worksheet, loaded whole.

use std::io::{Read, Seek};

use calamine::{Data, Range, Reader, Xlsx};

use crate::{Row, TabularError, MAX_CELL_BYTES, MAX_COLUMNS};

/// Integral numbers below this render without a decimal point; beyond it a double no longer holds
/// every integer exactly, so the shortest round-trip form is kept instead.
const EXACT_INTEGER_LIMIT: f64 = 1e15;
const SECONDS_PER_DAY: f64 = 86_400.0;

pub(crate) struct WorkbookRows {
    range: Range<Data>,
    /// 0-based sheet row of the range's first row.
    first_row: u64,
    /// Next row to read, relative to the range.
    next: usize,
    width: usize,
}

impl WorkbookRows {
    pub(crate) fn open<RS: Read + Seek>(
        input: RS,
    ) -> Result<(Vec<String>, WorkbookRows), TabularError> {
        let range = first_sheet(input)?;
        let first_row = range.start().map_or(0, |(row, _)| u64::from(row));
        let mut rows = WorkbookRows {
            range,
            first_row,
            next: 0,
            width: 0,
        };
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

    /// The next row with a non-empty cell: its sheet row number (1-based) and its cells, trailing
    /// empty ones dropped.
    fn next_cells(&mut self) -> Option<Result<(u64, Vec<String>), TabularError>> {
        let (height, width) = (self.range.height(), self.range.width());
        while self.next < height {
            let index = self.next;
            self.next += 1;
            let number = self.first_row + index as u64 + 1;
            let mut cells: Vec<String> = (0..width)
                .map(|col| self.range.get((index, col)).map(render).unwrap_or_default())
                .collect();
            let Some(filled) = cells.iter().rposition(|c| !c.is_empty()).map(|c| c + 1) else {
                continue;
            };
            cells.truncate(filled);
            if filled > MAX_COLUMNS {
                return Some(Err(TabularError::TooManyColumns {
                    row: number,
                    count: filled,
                }));
            }
            if let Some(col) = cells.iter().position(|c| c.len() > MAX_CELL_BYTES) {
                let bytes = cells[col].len();
                return Some(Err(TabularError::CellTooLong {
                    row: number,
                    column: col + 1,
                    bytes,
                }));
            }
            return Some(Ok((number, cells)));
        }
        None
    }
}

/// Counts the sheet's non-empty rows after the header.
pub(crate) fn count_rows<RS: Read + Seek>(input: RS) -> Result<u64, TabularError> {
    let range = first_sheet(input)?;
    let filled = range
        .rows()
        .filter(|row| row.iter().any(|cell| !render(cell).is_empty()))
        .count();
    Ok((filled as u64).saturating_sub(1))
}

fn first_sheet<RS: Read + Seek>(input: RS) -> Result<Range<Data>, TabularError> {
    let mut workbook: Xlsx<RS> = Xlsx::new(input)?;
    Ok(workbook
        .worksheet_range_at(0)
        .ok_or(TabularError::NoWorksheet)??)
}

/// A cell as the person sees it in Excel, trimmed: whole numbers without `.0` (a mobile stored as a
/// number stays `13800138000`), dates as `YYYY-MM-DD`, date-times as `YYYY-MM-DD HH:MM:SS`.
fn render(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => render_number(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::Error(e) => e.to_string(),
        Data::DateTime(dt) => {
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

    #[test]
    fn clock_values_render_as_hours_minutes_seconds() {
        assert_eq!(render_clock(0.5), "12:00:00");
        assert_eq!(render_clock(1.25), "30:00:00");
        assert_eq!(render_clock(1.0 / 86_400.0 * 61.0), "0:01:01");
    }
}
