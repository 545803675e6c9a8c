//! Streaming decoding of legacy-encoded text into UTF-8.

use std::io::{self, Read};

const CHUNK: usize = 8 * 1024;

/// A reader that decodes its input from a legacy encoding (here GB18030) and yields UTF-8, a chunk
/// at a time, so a large GBK file never has to be decoded in memory whole. Malformed input becomes
/// U+FFFD rather than an error: one bad byte should not stop an import.
pub(crate) struct Transcoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    output: Box<[u8]>,
    out_start: usize,
    out_end: usize,
    input_done: bool,
    finished: bool,
}

impl<R: Read> Transcoder<R> {
    pub(crate) fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Transcoder {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; CHUNK].into_boxed_slice(),
            in_start: 0,
            in_end: 0,
            // Room for any chunk's worth of output, so each decode call drains its input.
            output: vec![0; CHUNK * 3 + 16].into_boxed_slice(),
            out_start: 0,
            out_end: 0,
            input_done: false,
            finished: false,
        }
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_start < self.out_end {
                let n = buf.len().min(self.out_end - self.out_start);
                buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
                self.out_start += n;
                return Ok(n);
            }
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            if self.in_start == self.in_end && !self.input_done {
                let n = match self.inner.read(&mut self.input) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.in_start = 0;
                self.in_end = n;
                self.input_done = n == 0;
            }
            let last = self.input_done;
            let (result, read, written, _replaced) = self.decoder.decode_to_utf8(
                &self.input[self.in_start..self.in_end],
                &mut self.output,
                last,
            );
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
            if last && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out input a few bytes at a time so multi-byte characters are split across reads.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn decodes_gbk_split_at_every_boundary() {
        let text = "姓名,手机,公司\n张三,13800138000,深圳某某科技有限公司\n€𠀀\n".repeat(500);
        let (gbk, _, unmappable) = encoding_rs::GB18030.encode(&text);
        assert!(!unmappable);
        for step in [1, 2, 3, 7, 8192, 100_000] {
            let mut out = String::new();
            Transcoder::new(Dribble(&gbk, step), encoding_rs::GB18030)
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, text, "step {step}");
        }
    }

    #[test]
    fn replaces_malformed_bytes_and_keeps_going() {
        let mut out = String::new();
        Transcoder::new(&b"a\x81 b"[..], encoding_rs::GB18030)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a\u{FFFD} b");
        let mut out = String::new();
        Transcoder::new(&b"ok\xB5"[..], encoding_rs::GB18030)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "ok\u{FFFD}");
    }
}
