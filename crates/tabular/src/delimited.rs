//! CSV (and semicolon- or tab-separated) files, streamed.

use std::io::{Cursor, Read};

use crate::lines::LineEndings;
use crate::transcode::Transcoder;
use crate::{read_prefix, Encoding, Row, TabularError, MAX_CELL_BYTES, MAX_COLUMNS};

/// How much of the file decides the encoding and the delimiter.
const SNIFF_BYTES: usize = 64 * 1024;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];
/// No valid record is larger: every cell at the limit, fully quoted with every quote doubled.
const RECORD_LIMIT: u64 = (2 * MAX_COLUMNS * (MAX_CELL_BYTES + 2)) as u64 + 64 * 1024;

type Parser = csv::Reader<LineEndings<Box<dyn Read + Send>>>;

pub(crate) struct DelimitedRows {
    parser: Parser,
    record: csv::ByteRecord,
    width: usize,
    /// The line after the last record read: where the next one starts, unless blank lines follow.
    next_line: u64,
    done: bool,
}

impl DelimitedRows {
    /// Detects encoding and delimiter, reads the header (the first row with a non-empty cell) and
    /// leaves the parser at the first data row.
    pub(crate) fn open(
        input: Box<dyn Read + Send>,
        encoding: Encoding,
    ) -> Result<(Vec<String>, Encoding, DelimitedRows), TabularError> {
        let (stream, detected, delimiter) = prepare(input, encoding)?;
        let mut rows = DelimitedRows {
            parser: parser(stream, delimiter),
            record: csv::ByteRecord::new(),
            width: 0,
            next_line: 1,
            done: false,
        };
        loop {
            let Some(number) = rows.read_record()? else {
                return Err(TabularError::NoHeader);
            };
            if let Some(headers) = rows.cells(number)? {
                rows.width = headers.len();
                return Ok((headers, detected, rows));
            }
        }
    }

    pub(crate) fn next(&mut self) -> Option<Result<Row, TabularError>> {
        while !self.done {
            let number = match self.read_record() {
                Ok(Some(number)) => number,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            match self.cells(number) {
                Ok(Some(mut cells)) => {
                    if cells.len() < self.width {
                        cells.resize(self.width, String::new());
                    }
                    return Some(Ok(Row { number, cells }));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    /// Reads the next record into `self.record`; returns the line it starts on.
    fn read_record(&mut self) -> Result<Option<u64>, TabularError> {
        match self.parser.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(self.parse_error(e)),
        }
        self.parser.get_mut().mark_record();
        // Line endings are normalised, so the record has consumed exactly one final `\n`, and every
        // other `\n` it spans is inside a quoted cell: counting back from the end finds its first line
        // (counting forward would include the blank lines skipped before it).
        let embedded: usize = self
            .record
            .iter()
            .map(|cell| cell.iter().filter(|b| **b == b'\n').count())
            .sum();
        let end = self.parser.position().line();
        self.next_line = end;
        if self.ends_inside_quotes() {
            // No line end of its own was consumed: the last one is inside the open cell.
            let row = end.saturating_sub(embedded as u64).max(1);
            return Err(TabularError::Csv {
                row,
                message: "a quoted cell is never closed, so the rest of the file would be read \
                          as one cell"
                    .into(),
            });
        }
        Ok(Some(end.saturating_sub(1 + embedded as u64).max(1)))
    }

    /// Whether the record just read is the end of the file inside a quoted cell. The CSV parser
    /// ends such a record at the end of input without an error, its last cell holding the rest of
    /// the file. It is told apart by the input's final `\n` (always there: see [`LineEndings`]):
    /// it is inside the last cell, and not merely the end of a cell whose content ends with a line
    /// break, which is always written `\n"\n` (a `"` followed by a line end closes a quoted cell).
    fn ends_inside_quotes(&self) -> bool {
        let input = self.parser.get_ref();
        input.consumed_all(self.parser.position().byte())
            && self
                .record
                .iter()
                .next_back()
                .is_some_and(|cell| cell.ends_with(b"\n"))
            && input.tail() != *b"\n\"\n"
    }

    fn parse_error(&self, e: csv::Error) -> TabularError {
        parse_error(&self.parser, e, self.next_line)
    }

    /// The record's cells, trimmed, with trailing empty cells dropped; `None` for a blank row.
    fn cells(&self, row: u64) -> Result<Option<Vec<String>>, TabularError> {
        let filled = self
            .record
            .iter()
            .rposition(|cell| !is_blank(cell))
            .map_or(0, |i| i + 1);
        if filled == 0 {
            return Ok(None);
        }
        if filled > MAX_COLUMNS {
            return Err(TabularError::TooManyColumns { row, count: filled });
        }
        let mut cells = Vec::with_capacity(filled.max(self.width));
        for (index, raw) in self.record.iter().take(filled).enumerate() {
            let text = std::str::from_utf8(raw)
                .map_err(|_| TabularError::InvalidUtf8 { row })?
                .trim();
            if text.len() > MAX_CELL_BYTES {
                return Err(TabularError::CellTooLong {
                    row,
                    column: index + 1,
                    bytes: text.len(),
                });
            }
            cells.push(text.to_owned());
        }
        Ok(Some(cells))
    }
}

/// Whether a raw cell holds nothing but whitespace. Bytes that are not UTF-8 count as content.
fn is_blank(cell: &[u8]) -> bool {
    std::str::from_utf8(cell).is_ok_and(|s| s.trim().is_empty())
}

/// Counts data records without decoding: the bytes that structure a CSV (quotes, delimiters, line
/// ends) mean the same in UTF-8 and GBK.
pub(crate) fn count_records(input: Box<dyn Read + Send>) -> Result<u64, TabularError> {
    let (stream, _, delimiter) = prepare(input, Encoding::Utf8)?;
    let mut parser = parser(stream, delimiter);
    let mut record = csv::ByteRecord::new();
    let mut count = 0u64;
    let mut next_line = 1;
    loop {
        match parser.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(parse_error(&parser, e, next_line)),
        }
        parser.get_mut().mark_record();
        next_line = parser.position().line();
        if record
            .iter()
            .any(|cell| cell.iter().any(|b| !b.is_ascii_whitespace()))
        {
            count += 1;
        }
    }
    Ok(count.saturating_sub(1))
}

/// `next_line` is where the failed record starts (or blank lines before it): the parser's own position
/// has already moved into the record.
fn parse_error(parser: &Parser, e: csv::Error, next_line: u64) -> TabularError {
    if parser.get_ref().exceeded() {
        return TabularError::RowTooLarge { line: next_line };
    }
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => TabularError::Io(io),
        _ => TabularError::Csv {
            row: next_line,
            message,
        },
    }
}

fn parser(stream: Box<dyn Read + Send>, delimiter: u8) -> Parser {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(LineEndings::new(stream, RECORD_LIMIT))
}

/// Reads the first 64 KiB to pick encoding and delimiter, strips a UTF-8 BOM, and returns a stream of
/// UTF-8 (transcoded from GBK when needed) that starts again from the beginning.
fn prepare(
    mut input: Box<dyn Read + Send>,
    encoding: Encoding,
) -> Result<(Box<dyn Read + Send>, Encoding, u8), TabularError> {
    let mut prefix = read_prefix(&mut input, SNIFF_BYTES)?;
    let whole_file = prefix.len() < SNIFF_BYTES;
    if prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF") {
        return Err(TabularError::UnsupportedFormat(
            "UTF-16 text (Excel's \"Unicode text\")",
        ));
    }
    let bom = prefix.starts_with(UTF8_BOM);
    if bom {
        prefix.drain(..UTF8_BOM.len());
    }
    let detected = match encoding {
        Encoding::Auto if bom || looks_like_utf8(&prefix, whole_file) => Encoding::Utf8,
        Encoding::Auto => Encoding::Gbk,
        chosen => chosen,
    };
    let delimiter = sniff_delimiter(&prefix);
    let stream: Box<dyn Read + Send> = Box::new(Cursor::new(prefix).chain(input));
    let stream = match detected {
        Encoding::Gbk => Box::new(Transcoder::new(stream, encoding_rs::GB18030)),
        _ => stream,
    };
    Ok((stream, detected, delimiter))
}

/// Valid UTF-8, allowing for a character cut in half where the sample ends.
fn looks_like_utf8(sample: &[u8], whole_file: bool) -> bool {
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => !whole_file && e.error_len().is_none(),
    }
}

/// The delimiter that occurs most often in the header line (the first line that is not blank,
/// outside quotes); ties and a header
/// without any go to the comma. GBK never uses these bytes inside a character, so this works on
/// undecoded bytes too.
fn sniff_delimiter(sample: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    let header = sample
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(&[][..], |at| &sample[at..]);
    for &byte in header {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|d| *d == byte) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for i in 1..DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_most_frequent_delimiter_of_the_header_line() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\n"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\tc,d\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\"x;y;z\",b\n"), b',');
        assert_eq!(sniff_delimiter(b"name\n"), b',');
        assert_eq!(sniff_delimiter(b"a;b,c\n"), b',');
        assert_eq!(sniff_delimiter(b"\r\n\na;b\n"), b';');
    }

    #[test]
    fn a_character_cut_by_the_sample_still_counts_as_utf8() {
        let text = "姓名".as_bytes();
        assert!(looks_like_utf8(&text[..4], false));
        assert!(!looks_like_utf8(&text[..4], true));
        assert!(!looks_like_utf8(b"\xD0\xD5\xC3\xFB,a", false));
    }
}
