//! The intake log's files: append-only segments of checksummed records, each the request body
//! exactly as it was accepted plus what is needed to parse it again.
//!
//! A segment is `<first sequence number>.log`, 20 digits, starting with [`MAGIC`]. A record is
//! `u32 length · u32 CRC-32 of the payload · payload`, little-endian; the payload is
//! `u64 seq · i64 org · i64 source · i64 received_at · u8 kind · u16 name length · source name ·
//! body`. A record cut short or with a wrong checksum ends what is read of its segment: it can only
//! be the tail of a write that never finished its fsync, which was never acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hatchery_domain::ids::SourceId;
use hatchery_domain::message::MessageKind;
use hatchery_domain::OrgId;

/// The first bytes of every segment (format version 1).
pub const MAGIC: &[u8; 8] = b"HTKLOG01";
/// A segment is closed and a new one started once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const FRAME_HEADER: usize = 8;
const FIXED_PAYLOAD: usize = 8 + 8 + 8 + 8 + 1 + 2;

/// One accepted tracking request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub seq: u64,
    pub org: OrgId,
    pub source: SourceId,
    pub source_name: String,
    /// The endpoint's message type; `None` for `/v1/batch`.
    pub kind: Option<MessageKind>,
    pub received_at: i64,
    /// The request body as parsed (after any gzip was undone).
    pub body: Vec<u8>,
}

const KINDS: [MessageKind; 6] = MessageKind::ALL;

fn kind_code(kind: Option<MessageKind>) -> u8 {
    kind.map_or(0, |k| {
        KINDS.iter().position(|x| *x == k).unwrap_or(0) as u8 + 1
    })
}

fn kind_of(code: u8) -> Option<Option<MessageKind>> {
    match code {
        0 => Some(None),
        n => KINDS.get(n as usize - 1).map(|k| Some(*k)),
    }
}

impl LogRecord {
    /// Appends the record's frame to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let name = &self.source_name.as_bytes()[..self.source_name.len().min(u16::MAX as usize)];
        let len = FIXED_PAYLOAD + name.len() + self.body.len();
        let start = out.len();
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.org.0.to_le_bytes());
        out.extend_from_slice(&self.source.0.to_le_bytes());
        out.extend_from_slice(&self.received_at.to_le_bytes());
        out.push(kind_code(self.kind));
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&self.body);
        let crc = crc32fast::hash(&out[start + FRAME_HEADER..]);
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(p: &[u8]) -> Option<LogRecord> {
        if p.len() < FIXED_PAYLOAD {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().unwrap_or_default());
        let name_len = u16::from_le_bytes([p[33], p[34]]) as usize;
        let name = p.get(FIXED_PAYLOAD..FIXED_PAYLOAD + name_len)?;
        Some(LogRecord {
            seq: u64_at(0),
            org: OrgId(u64_at(8) as i64),
            source: SourceId(u64_at(16) as i64),
            received_at: u64_at(24) as i64,
            kind: kind_of(p[32])?,
            source_name: String::from_utf8_lossy(name).into_owned(),
            body: p[FIXED_PAYLOAD + name_len..].to_vec(),
        })
    }

    /// Bytes the record takes in its segment.
    pub fn framed_len(&self) -> usize {
        FRAME_HEADER
            + FIXED_PAYLOAD
            + self.source_name.len().min(u16::MAX as usize)
            + self.body.len()
    }
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub struct SegmentRead {
    pub records: Vec<LogRecord>,
    /// Bytes after the last whole record (an unfinished write), not read.
    pub dropped_bytes: u64,
}

/// Reads every whole record of a segment, stopping at the first torn or damaged one.
pub fn read_segment(path: &Path) -> io::Result<SegmentRead> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    if data.len() < MAGIC.len() && MAGIC.starts_with(&data) {
        // A segment whose creation was cut short (by a crash, or a full disk): nothing in it
        // was ever acknowledged.
        return Ok(SegmentRead {
            records: Vec::new(),
            dropped_bytes: data.len() as u64,
        });
    }
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not an intake log segment", path.display()),
        ));
    }
    let mut read = SegmentRead::default();
    let mut at = MAGIC.len();
    while at + FRAME_HEADER <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap_or_default());
        let Some(payload) = data.get(at + FRAME_HEADER..at + FRAME_HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Some(rec) = LogRecord::decode(payload) else {
            break;
        };
        read.records.push(rec);
        at += FRAME_HEADER + len;
    }
    read.dropped_bytes = (data.len() - at) as u64;
    Ok(read)
}

/// The segments in `dir`, oldest first, with the first sequence number each holds.
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The log's id, kept in `dir/ID`; made up (16 hex digits) when the log is new.
pub fn log_id(dir: &Path) -> io::Result<String> {
    let path = dir.join("ID");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
    let id = format!("{:016x}", rand::random::<u64>());
    let mut f = File::create(&path)?;
    f.write_all(id.as_bytes())?;
    f.sync_all()?;
    sync_dir(dir)?;
    Ok(id)
}

/// The records with these sequence numbers, from whichever segments hold them.
pub fn read_records(dir: &Path, seqs: &[u64]) -> io::Result<Vec<LogRecord>> {
    let wanted: std::collections::HashSet<u64> = seqs.iter().copied().collect();
    let last = seqs.iter().copied().max().unwrap_or(0);
    let mut out = Vec::with_capacity(seqs.len());
    for (first, path) in segments(dir)? {
        if first > last {
            break;
        }
        out.extend(
            read_segment(&path)?
                .records
                .into_iter()
                .filter(|r| wanted.contains(&r.seq)),
        );
    }
    out.sort_by_key(|r| r.seq);
    Ok(out)
}

/// Keeps a request that could not be applied in `dir`: `<seq>.log`, a segment holding its record
/// alone, and `<seq>.txt`, why.
pub fn keep_rejected(dir: &Path, record: &LogRecord, reason: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut data = MAGIC.to_vec();
    record.encode_into(&mut data);
    for (ext, bytes) in [("log", data.as_slice()), ("txt", reason.as_bytes())] {
        let mut f = File::create(dir.join(format!("{:020}.{ext}", record.seq)))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    sync_dir(dir)
}

/// The requests [`keep_rejected`] kept in `dir`, by sequence number, each with its reason. A file
/// that cannot be read is left out (and left alone).
pub fn read_rejected(dir: &Path) -> io::Result<Vec<(LogRecord, String)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let Ok(read) = read_segment(&path) else {
            continue;
        };
        let reason = std::fs::read_to_string(path.with_extension("txt")).unwrap_or_default();
        out.extend(read.records.into_iter().map(|r| (r, reason.clone())));
    }
    out.sort_by_key(|(r, _)| r.seq);
    Ok(out)
}

/// The request `seq` that [`keep_rejected`] kept in `dir`, if it is there and readable (as
/// [`read_rejected`] lists it).
pub fn read_rejected_one(dir: &Path, seq: u64) -> io::Result<Option<LogRecord>> {
    match read_segment(&dir.join(format!("{seq:020}.log"))) {
        Ok(read) => Ok(read.records.into_iter().find(|r| r.seq == seq)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::InvalidData
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Removes the request `seq` that [`keep_rejected`] kept in `dir`; false if there is none.
pub fn remove_rejected(dir: &Path, seq: u64) -> io::Result<bool> {
    let path = dir.join(format!("{seq:020}.log"));
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(path.with_extension("txt")) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    sync_dir(dir)?;
    Ok(true)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment being appended to, and the closed ones not yet released.
pub struct LogWriter {
    dir: PathBuf,
    file: File,
    len: u64,
    first: u64,
    /// Closed segments: (path, last sequence number in it).
    closed: Vec<(PathBuf, u64)>,
    next_seq: u64,
    /// A segment is closed once it holds this many bytes ([`SEGMENT_BYTES`]).
    segment_bytes: u64,
}

impl LogWriter {
    /// Starts a new segment in `dir` whose first record will be `next_seq`. Segments already there
    /// are left alone: they are replayed and removed by the caller.
    pub fn create(dir: &Path, next_seq: u64) -> io::Result<LogWriter> {
        std::fs::create_dir_all(dir)?;
        let (file, first) = Self::new_segment(dir, next_seq)?;
        Ok(LogWriter {
            dir: dir.to_owned(),
            file,
            len: MAGIC.len() as u64,
            first,
            closed: Vec::new(),
            next_seq,
            segment_bytes: SEGMENT_BYTES,
        })
    }

    /// Closes segments at `bytes` instead of [`SEGMENT_BYTES`].
    pub fn with_segment_bytes(mut self, bytes: u64) -> LogWriter {
        self.segment_bytes = bytes;
        self
    }

    fn new_segment(dir: &Path, first: u64) -> io::Result<(File, u64)> {
        let path = dir.join(format!("{first:020}.log"));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        let ready = file
            .write_all(MAGIC)
            .and_then(|()| file.sync_all())
            .and_then(|()| sync_dir(dir));
        if let Err(e) = ready {
            // Not left behind half made: the next attempt creates it afresh.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok((file, first))
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Numbers and writes the records, then syncs them to disk. On an error nothing of them counts:
    /// the segment is cut back to where it was, and the sequence numbers are not used.
    pub fn append(&mut self, records: &mut [LogRecord]) -> io::Result<()> {
        if self.len >= self.segment_bytes {
            let (file, first) = Self::new_segment(&self.dir, self.next_seq)?;
            let old = std::mem::replace(&mut self.file, file);
            drop(old);
            let path = self.dir.join(format!("{:020}.log", self.first));
            self.closed.push((path, self.next_seq - 1));
            self.first = first;
            self.len = MAGIC.len() as u64;
        }
        let mut buf = Vec::with_capacity(records.iter().map(LogRecord::framed_len).sum());
        let mut seq = self.next_seq;
        for r in records.iter_mut() {
            r.seq = seq;
            seq += 1;
            r.encode_into(&mut buf);
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Whatever part reached the file must not be replayed as if it had been accepted.
            // Should even cutting back fail, the next records go to a segment of their own, and a
            // reader drops this one's unfinished tail.
            if self.cut_back().is_err() {
                self.len = self.segment_bytes;
            }
            return Err(e);
        }
        self.len += buf.len() as u64;
        self.next_seq = seq;
        Ok(())
    }

    /// Cuts the segment back to its last whole record after a failed write, and moves the file's
    /// position there: the next write must follow that record, not the failed write's end, or the
    /// gap between them would end the segment for a reader and hide every record after it.
    fn cut_back(&mut self) -> io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.seek(SeekFrom::Start(self.len))?;
        self.file.sync_data()
    }

    /// Removes the closed segments whose every record is at or below `applied`.
    pub fn release(&mut self, applied: u64) -> io::Result<()> {
        let before = self.closed.len();
        let mut err = None;
        self.closed.retain(|(path, last)| {
            if *last > applied {
                return true;
            }
            match std::fs::remove_file(path) {
                Ok(()) => false,
                Err(e) => {
                    err = Some(e);
                    true
                }
            }
        });
        if self.closed.len() != before {
            sync_dir(&self.dir)?;
        }
        err.map_or(Ok(()), Err)
    }

    /// Segments on disk, the one being written included.
    pub fn segment_count(&self) -> usize {
        self.closed.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize) -> LogRecord {
        LogRecord {
            seq: 0,
            org: OrgId(7),
            source: SourceId(3),
            source_name: "官网 Website".into(),
            kind: if n.is_multiple_of(2) {
                None
            } else {
                Some(MessageKind::Alias)
            },
            received_at: 1_700_000_000_000 + n as i64,
            body: format!("{{\"n\":{n}}}").into_bytes(),
        }
    }

    #[test]
    fn after_a_failed_write_the_next_records_follow_the_last_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(dir.path(), 1).unwrap();
        w.append(&mut [rec(0), rec(1)]).unwrap();
        // A write that reached the file in part before failing (a full disk, say).
        w.file.write_all(b"\x40\0\0\0part of a record").unwrap();
        w.cut_back().unwrap();
        w.append(&mut [rec(2), rec(3)]).unwrap();
        let read = read_segment(&segments(dir.path()).unwrap()[0].1).unwrap();
        assert_eq!(read.dropped_bytes, 0);
        assert_eq!(
            read.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[test]
    fn records_read_back_as_written_with_consecutive_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(dir.path(), 41).unwrap();
        let mut batch: Vec<LogRecord> = (0..5).map(rec).collect();
        w.append(&mut batch).unwrap();
        w.append(&mut [rec(5)]).unwrap();
        assert_eq!(w.next_seq(), 47);
        let segs = segments(dir.path()).unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].0, 41);
        let read = read_segment(&segs[0].1).unwrap();
        assert_eq!(read.dropped_bytes, 0);
        let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (41..47).collect::<Vec<_>>());
        for (i, r) in read.records.iter().enumerate() {
            let mut want = rec(i);
            want.seq = 41 + i as u64;
            assert_eq!(*r, want);
        }
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_segment_and_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(dir.path(), 1).unwrap();
        w.append(&mut [rec(0), rec(1), rec(2)]).unwrap();
        drop(w);
        let path = segments(dir.path()).unwrap()[0].1.clone();
        let full = std::fs::read(&path).unwrap();
        let third = rec(2).framed_len();

        // Cut in the middle of the last record: the first two are read.
        std::fs::write(&path, &full[..full.len() - third / 2]).unwrap();
        let read = read_segment(&path).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.dropped_bytes as usize, third - third / 2);

        // A flipped byte in the second record's body: only the first is read.
        let mut bad = full.clone();
        let second_end = full.len() - third;
        bad[second_end - 2] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let read = read_segment(&path).unwrap();
        assert_eq!(read.records.len(), 1);

        // Not a segment at all.
        std::fs::write(&path, b"hello").unwrap();
        assert!(read_segment(&path).is_err());
    }

    #[test]
    fn full_segments_are_closed_and_removed_once_everything_in_them_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(dir.path(), 1).unwrap();
        let big = LogRecord {
            body: vec![b'x'; (SEGMENT_BYTES / 2) as usize],
            ..rec(0)
        };
        for _ in 0..5 {
            w.append(&mut [big.clone()]).unwrap();
        }
        // 2 records fill a segment; the 3rd, 5th start new ones.
        assert_eq!(w.segment_count(), 3);
        assert_eq!(segments(dir.path()).unwrap().len(), 3);
        w.release(1).unwrap();
        assert_eq!(
            segments(dir.path()).unwrap().len(),
            3,
            "record 2 is not applied"
        );
        w.release(2).unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 2);
        w.release(5).unwrap();
        let left = segments(dir.path()).unwrap();
        assert_eq!(left.len(), 1, "the segment being written stays");
        assert_eq!(left[0].0, 5);
    }
}
