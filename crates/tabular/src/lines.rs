//! Line-ending normalisation in front of the CSV parser.

use std::io::{self, Read};

/// Passes bytes through with every line ending (`\r\n`, a lone `\r`) turned into `\n`, and a `\n`
/// added at the very end when the input lacks one. With that, every record the CSV parser returns
/// ends in exactly one `\n` it has consumed, which is what lets [`crate::delimited`] work out the
/// line each record starts on (the parser's own line count is off for CRLF files and blank lines).
///
/// It also caps how many bytes may pass between two calls to [`LineEndings::mark_record`]: a quote
/// that is never closed would otherwise make the parser buffer the rest of a large file as one cell.
pub(crate) struct LineEndings<R> {
    inner: R,
    after_cr: bool,
    last: Option<u8>,
    finished: bool,
    since_mark: u64,
    limit: u64,
    exceeded: bool,
    /// Bytes passed on so far, and the last three of them.
    emitted: u64,
    tail: [u8; 3],
}

impl<R: Read> LineEndings<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        LineEndings {
            inner,
            after_cr: false,
            last: None,
            finished: false,
            since_mark: 0,
            limit,
            exceeded: false,
            emitted: 0,
            tail: [0; 3],
        }
    }

    /// Whether the input has ended and a reader that has taken `consumed` bytes has taken them all.
    pub(crate) fn consumed_all(&self, consumed: u64) -> bool {
        self.finished && !self.exceeded && consumed == self.emitted
    }

    /// The last three bytes passed on (fewer at the very start, padded with NUL in front).
    pub(crate) fn tail(&self) -> [u8; 3] {
        self.tail
    }

    fn passed(&mut self, bytes: &[u8]) {
        self.emitted += bytes.len() as u64;
        for &b in &bytes[bytes.len().saturating_sub(3)..] {
            self.tail = [self.tail[1], self.tail[2], b];
        }
    }

    /// Called when a record has been taken out of the parser: the bytes of the next one start counting.
    pub(crate) fn mark_record(&mut self) {
        self.since_mark = 0;
    }

    /// Whether reading stopped because a record grew past the limit.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl<R: Read> Read for LineEndings<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.finished {
            return Ok(0);
        }
        loop {
            let n = self.read_inner(buf)?;
            if n == 0 {
                self.finished = true;
                if self.last.is_some_and(|b| b != b'\n') {
                    buf[0] = b'\n';
                    self.last = Some(b'\n');
                    self.passed(b"\n");
                    return Ok(1);
                }
                return Ok(0);
            }
            let mut written = 0;
            for i in 0..n {
                let byte = match buf[i] {
                    b'\n' if self.after_cr => {
                        self.after_cr = false;
                        continue;
                    }
                    b'\r' => {
                        self.after_cr = true;
                        b'\n'
                    }
                    b => {
                        self.after_cr = false;
                        b
                    }
                };
                buf[written] = byte;
                written += 1;
            }
            if written == 0 {
                // The chunk was only the `\n` of a `\r\n` split across reads.
                continue;
            }
            self.last = Some(buf[written - 1]);
            self.passed(&buf[..written]);
            self.since_mark += written as u64;
            if self.since_mark > self.limit {
                self.exceeded = true;
                self.finished = true;
                return Err(io::Error::other("a row is larger than the limit"));
            }
            return Ok(written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a reader that hands out one byte at a time, to cross every chunk boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn normalise(input: &[u8]) -> Vec<u8> {
        let mut whole = Vec::new();
        LineEndings::new(input, u64::MAX)
            .read_to_end(&mut whole)
            .unwrap();
        let mut trickled = Vec::new();
        LineEndings::new(Trickle(input), u64::MAX)
            .read_to_end(&mut trickled)
            .unwrap();
        assert_eq!(whole, trickled);
        whole
    }

    #[test]
    fn turns_crlf_and_lone_cr_into_lf_and_ends_with_a_newline() {
        assert_eq!(normalise(b"a\r\nb\rc\n\r\n"), b"a\nb\nc\n\n");
        assert_eq!(normalise(b"a\r\r\nb"), b"a\n\nb\n");
        assert_eq!(normalise(b"a"), b"a\n");
        assert_eq!(normalise(b""), b"");
        assert_eq!(normalise(b"a\r"), b"a\n");
    }

    #[test]
    fn knows_how_much_it_passed_on_and_its_last_bytes() {
        let mut reader = LineEndings::new(Trickle(b"a\r\n\"b"), u64::MAX);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a\n\"b\n");
        assert_eq!(reader.tail(), *b"\"b\n");
        assert!(reader.consumed_all(5));
        assert!(!reader.consumed_all(4));
    }

    #[test]
    fn fails_once_too_many_bytes_pass_without_a_record() {
        let input = [b'x'; 100];
        let mut reader = LineEndings::new(&input[..], 10);
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).unwrap(), 8);
        reader.mark_record();
        assert_eq!(reader.read(&mut buf).unwrap(), 8);
        assert!(reader.read(&mut buf).is_err());
        assert!(reader.exceeded());
    }
}
