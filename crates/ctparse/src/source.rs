//! Where dump bytes come from: memory maps for regular files, bounded
//! streaming for everything else, and line-aligned chunks for parallel
//! consumers.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use memmap2::Mmap;

/// The bytes of a dump, or a reader to stream them from.
///
/// [`Source::open`] memory-maps regular, non-empty files. Everything else
/// is a stream: `/proc/net/nf_conntrack` (procfs reports size 0, so a map
/// would silently be empty), pipes, character devices and stdin.
#[derive(Debug)]
pub enum Source {
    /// A memory-mapped regular file.
    Mapped(MappedFile),
    /// A stream to read with a [`ChunkReader`].
    Stream(Stream),
}

/// A readable, sendable byte stream.
pub struct Stream(pub Box<dyn Read + Send>);

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl Source {
    /// Opens `path`, mapping it when it is a regular file with a non-zero
    /// size (and its filesystem can map it), and streaming it otherwise.
    ///
    /// A mapped file must not shrink while its map is read: where another
    /// process truncates it (a log rotation's `copytruncate`, a capture
    /// rewritten in place), reading the pages that are gone kills the
    /// process with `SIGBUS`. `ctanalyze`'s passes never read the map
    /// (they use [`MappedFile::read_at`], and a short read is an error);
    /// code that reads it itself, through `Deref`, can stream a file that
    /// may change instead (`Source::from_reader(File::open(path)?)`) or
    /// have the program exit with a message of its own then
    /// ([`exit_when_mapped_file_shrinks`](crate::exit_when_mapped_file_shrinks)).
    ///
    /// A directory is an error ([`io::ErrorKind::IsADirectory`]). A FIFO
    /// is opened as a stream, which waits for a writer, as `open(2)` does.
    pub fn open(path: &Path) -> io::Result<Source> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        if meta.is_file() && meta.len() > 0 {
            // Where the filesystem cannot map (sysfs, some FUSE mounts:
            // ENODEV), the file is read as a stream.
            let map = match map(&file) {
                Ok(map) => map,
                Err(_) => return Ok(Source::Stream(Stream(Box::new(file)))),
            };
            let watch = crate::guard::watch(&map, path);
            let opened = Version::of(&map);
            Ok(Source::Mapped(MappedFile {
                _watch: watch,
                map,
                opened,
                file,
            }))
        } else {
            Ok(Source::Stream(Stream(Box::new(file))))
        }
    }

    /// A source streaming from `reader`.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Source {
        Source::Stream(Stream(Box::new(reader)))
    }

    /// The mapped bytes, when the source is mapped.
    pub fn as_mapped(&self) -> Option<&[u8]> {
        match self {
            Source::Mapped(file) => Some(file),
            Source::Stream(_) => None,
        }
    }
}

/// A regular file, memory-mapped, with the file itself: the map to find
/// lines and offsets anywhere in it, and positional reads
/// ([`read_at`](MappedFile::read_at)) to go through it in pieces that
/// stay in the cache, without a page fault for every few pages read and
/// an unmapping of them all at the end. Derefs to the mapped bytes.
#[derive(Debug)]
pub struct MappedFile {
    /// Dropped first: the watch ends before the unmapping.
    _watch: crate::guard::Watch,
    map: Mmap,
    /// The file's size and its first and last bytes when it was opened.
    opened: Version,
    file: File,
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl MappedFile {
    /// An error ([`Changed`]) when another process wrote to the file
    /// since it was opened, other than to append to it: what was read
    /// from it may mix two versions. Checked after a pass, it catches the
    /// rewrites a short read does not (to the same size or larger).
    ///
    /// The file is unchanged when it is no shorter and its first and last
    /// 4 KiB of then are still there: as it was, or appended to (as a
    /// growing `conntrack -E` log is). Read again rather than judged by
    /// the modification time, which a filesystem may keep to the second
    /// and `cp -p` sets back. A rewrite that keeps both ends goes unseen.
    pub fn unchanged(&self) -> io::Result<()> {
        let meta = self.file.metadata()?;
        let len = self.opened.len;
        let kept = meta.len() >= len
            && self.sample_at(0)? == self.opened.head
            && self.sample_at(len.saturating_sub(SAMPLE as u64))? == self.opened.tail;
        if kept {
            Ok(())
        } else {
            Err(io::Error::other(Changed))
        }
    }

    /// The file's bytes from `offset`, up to `SAMPLE` of them and the size
    /// it was opened with.
    fn sample_at(&self, offset: u64) -> io::Result<Vec<u8>> {
        let end = self.opened.len.min(offset + SAMPLE as u64);
        let mut sample = vec![0; usize::try_from(end - offset).unwrap_or(0)];
        let read = self.read_at(&mut sample, offset)?;
        sample.truncate(read);
        Ok(sample)
    }

    /// Reads the bytes at `offset` into `buf`, as many as fit and are
    /// there (fewer only at the end of the file); the same bytes as the
    /// map's at that offset.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("ctparse-read-at-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("dump.txt");
    /// std::fs::write(&path, b"first line\nsecond line\n")?;
    /// let ctparse::Source::Mapped(file) = ctparse::Source::open(&path)? else {
    ///     panic!("a regular file is mapped");
    /// };
    /// let mut buf = [0u8; 6];
    /// assert_eq!(file.read_at(&mut buf, 11)?, 6);
    /// assert_eq!(&buf, b"second");
    /// assert_eq!(&file[11..17], b"second");
    /// assert_eq!(file.read_at(&mut buf, 20)?, 3); // "ne\n", the end
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let at = offset + filled as u64;
            match read_file_at(&self.file, &self.map, &mut buf[filled..], at) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// The bytes kept of each end of a mapped file, to tell an append from a
/// rewrite ([`MappedFile::unchanged`]).
const SAMPLE: usize = 4096;

/// A file as it was opened: its size, and its first and last [`SAMPLE`]
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    len: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Version {
    fn of(bytes: &[u8]) -> Version {
        Version {
            len: bytes.len() as u64,
            head: bytes[..bytes.len().min(SAMPLE)].to_vec(),
            tail: bytes[bytes.len().saturating_sub(SAMPLE)..].to_vec(),
        }
    }
}

/// The error of [`MappedFile::unchanged`]: the file was written to while
/// it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed;

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file changed while it was read: another process wrote to it")
    }
}

impl std::error::Error for Changed {}

/// One positional read (`pread`).
#[cfg(unix)]
fn read_file_at(file: &File, _: &[u8], buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

/// Elsewhere, a copy from the map.
#[cfg(not(unix))]
fn read_file_at(_: &File, map: &[u8], buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let start = usize::try_from(offset).map_or(map.len(), |o| o.min(map.len()));
    let n = buf.len().min(map.len() - start);
    buf[..n].copy_from_slice(&map[start..start + n]);
    Ok(n)
}

#[allow(unsafe_code)]
fn map(file: &File) -> io::Result<Mmap> {
    // SAFETY: the map is read-only (shared with the page cache). The one
    // hazard is another process truncating the file while it is mapped,
    // which makes reads of the vanished pages fault (SIGBUS). Dumps are
    // captured once and then read; ctreport documents that a file being
    // rewritten must be read from a pipe (`cat dump | ctreport -`) instead,
    // and `guard` turns the fault into a message where the program asks.
    let map = unsafe { Mmap::map(file)? };
    #[cfg(unix)]
    {
        // Purely advisory; a failure changes nothing but speed.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    Ok(map)
}

/// Reads a stream in chunks of whole lines, so memory stays bounded by
/// about the chunk size plus [`MAX_LINE`](crate::MAX_LINE), whatever the
/// size of the dump. Of a line longer than `MAX_LINE` that runs past the
/// chunk being filled, only the start is kept (enough for the parser's
/// [`LineTooLong`](crate::ErrorKind::LineTooLong) error, at the line's own
/// number): the rest, up to its line end, is read and dropped, and counted
/// in [`skipped`](ChunkReader::skipped). (A line over the limit that ends
/// within a chunk is handed out whole; the parser refuses it the same way.)
///
/// ```
/// use ctparse::ChunkReader;
/// let input: &[u8] = b"line one\nline two\nline three";
/// let mut reader = ChunkReader::new(input, 10);
/// let mut chunk = Vec::new();
/// let mut chunks = Vec::new();
/// while reader.next_chunk(&mut chunk)? {
///     chunks.push(String::from_utf8(chunk.clone()).unwrap());
/// }
/// assert_eq!(chunks, ["line one\n", "line two\n", "line three"]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChunkReader<R> {
    reader: R,
    chunk_size: usize,
    /// The partial line left over from the previous read.
    carry: Vec<u8>,
    eof: bool,
    /// A read error held back until the lines read before it are out.
    failed: Option<io::Error>,
    /// After a read error: the bytes of the line it cut short.
    cut: Vec<u8>,
    /// Bytes dropped of overlong lines that have ended.
    skipped: u64,
    /// Bytes dropped of the line being read past, until it ends (then
    /// they are `skipped`) or a read error cuts it (then `cut_dropped`).
    dropping: u64,
    /// After a read error: the bytes dropped of the line it cut short.
    cut_dropped: u64,
}

impl<R: Read> ChunkReader<R> {
    /// A reader aiming for chunks of about `chunk_size` bytes (at least 1).
    pub fn new(reader: R, chunk_size: usize) -> ChunkReader<R> {
        ChunkReader {
            reader,
            chunk_size: chunk_size.max(1),
            carry: Vec::new(),
            eof: false,
            failed: None,
            cut: Vec::new(),
            skipped: 0,
            dropping: 0,
            cut_dropped: 0,
        }
    }

    /// Replaces the contents of `chunk` with the next run of whole lines
    /// (the last line of the stream may lack its `\n`). Returns `false`, with
    /// `chunk` empty, at the end of the stream.
    ///
    /// When a read fails (a truncated gzip stream, an I/O error), the whole
    /// lines read before it come first, as the last chunk; the next call
    /// returns the error, and every call after it `false`. The line the
    /// error cut short is not a line of the stream (its end is lost, and a
    /// cut entry can read as a shorter, valid one): it is kept apart, in
    /// [`cut`](ChunkReader::cut). Nothing read is lost to an error:
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use ctparse::ChunkReader;
    ///
    /// /// Its bytes, then an error, as a gzip file cut short reads.
    /// struct CutShort<'a>(&'a [u8]);
    ///
    /// impl Read for CutShort<'_> {
    ///     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
    ///         if self.0.is_empty() {
    ///             return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "incomplete deflate stream"));
    ///         }
    ///         self.0.read(buf)
    ///     }
    /// }
    ///
    /// let mut reader = ChunkReader::new(CutShort(b"line one\nline tw"), 1 << 16);
    /// let mut chunk = Vec::new();
    /// assert!(reader.next_chunk(&mut chunk)?);
    /// assert_eq!(chunk, b"line one\n");
    /// let error = reader.next_chunk(&mut chunk).unwrap_err();
    /// assert_eq!(error.to_string(), "incomplete deflate stream");
    /// assert_eq!(reader.cut(), b"line tw");
    /// assert!(!reader.next_chunk(&mut chunk)?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn next_chunk(&mut self, chunk: &mut Vec<u8>) -> io::Result<bool> {
        chunk.clear();
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        chunk.append(&mut self.carry);
        match self.fill(chunk) {
            Ok(more) => Ok(more),
            Err(error) => {
                self.eof = true;
                self.carry.clear();
                let whole = memchr::memrchr(b'\n', chunk).map_or(0, |at| at + 1);
                self.cut = chunk.split_off(whole);
                // What was dropped of the cut line is the cut's.
                self.cut_dropped = std::mem::take(&mut self.dropping);
                if chunk.is_empty() {
                    return Err(error);
                }
                self.failed = Some(error);
                Ok(true)
            }
        }
    }

    /// The bytes of the line a read error cut short (empty before an error,
    /// and when the error came right after a line end); of a line longer
    /// than a chunk, its start ([`cut_len`](ChunkReader::cut_len) counts
    /// it all).
    pub fn cut(&self) -> &[u8] {
        &self.cut
    }

    /// How many bytes of the line a read error cut short were read.
    pub fn cut_len(&self) -> u64 {
        self.cut.len() as u64 + self.cut_dropped
    }

    /// The bytes of whole lines read but not handed out: the ends of lines
    /// too long to keep. With the chunks' bytes and
    /// [`cut_len`](ChunkReader::cut_len), they make every byte read.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads into `chunk` (which holds the carried partial line) up to the
    /// chunk size, then on to the end of a line, keeping what follows the
    /// last line end for the next chunk.
    fn fill(&mut self, chunk: &mut Vec<u8>) -> io::Result<bool> {
        while !self.eof && chunk.len() < self.chunk_size {
            let want = self.chunk_size - chunk.len();
            if read_up_to(&mut self.reader, chunk, want)? == 0 {
                self.eof = true;
            }
        }
        if self.eof {
            return Ok(!chunk.is_empty());
        }
        // Cut after the last complete line. Nothing before `searched` holds a
        // newline, so a line longer than a chunk is read on until it ends.
        let mut searched = 0;
        // Where the unfinished line starts: 0, or after the start of an
        // entry whose rest it is (see below). A line's length limit is its
        // own.
        let mut line_start = 0;
        loop {
            if let Some(i) = memchr::memrchr(b'\n', &chunk[searched..]) {
                // Not inside an entry conntrack's stderr was spliced into:
                // when that entry's start is the chunk's one line, its rest
                // is read and joins it.
                let end = searched + i + 1;
                let Some(cut) = crate::splice_safe_cut(chunk, end) else {
                    (searched, line_start) = (end, end);
                    if read_up_to(&mut self.reader, chunk, self.chunk_size.max(64 * 1024))? == 0 {
                        self.eof = true;
                        return Ok(true);
                    }
                    continue;
                };
                self.carry.extend_from_slice(&chunk[cut..]);
                chunk.truncate(cut);
                return Ok(true);
            }
            // No line end since `line_start`: it is all one line so far.
            if chunk.len() - line_start > KEPT_OF_LONG_LINE {
                self.dropping += (chunk.len() - line_start - KEPT_OF_LONG_LINE) as u64;
                chunk.truncate(line_start + KEPT_OF_LONG_LINE);
                searched = chunk.len();
                if !self.skip_to_line_end(chunk)? {
                    return Ok(true);
                }
                continue;
            }
            searched = chunk.len();
            if read_up_to(&mut self.reader, chunk, self.chunk_size.max(64 * 1024))? == 0 {
                self.eof = true;
                return Ok(true);
            }
        }
    }

    /// Reads past the rest of a line too long to keep, whose start `chunk`
    /// holds: the bytes up to its line end are dropped, the line end and
    /// what follows it are appended. `false` when the stream ends first.
    fn skip_to_line_end(&mut self, chunk: &mut Vec<u8>) -> io::Result<bool> {
        let kept = chunk.len();
        loop {
            if read_up_to(&mut self.reader, chunk, MAX_READ)? == 0 {
                // The stream's end ends the line.
                self.eof = true;
                self.skipped += std::mem::take(&mut self.dropping);
                return Ok(false);
            }
            let end = memchr::memchr(b'\n', &chunk[kept..]);
            let dropped = end.unwrap_or(chunk.len() - kept);
            self.dropping += dropped as u64;
            chunk.drain(kept..kept + dropped);
            if end.is_some() {
                self.skipped += std::mem::take(&mut self.dropping);
                return Ok(true);
            }
        }
    }
}

/// What a stream keeps of a line longer than [`MAX_LINE`](crate::MAX_LINE):
/// one byte over it even after a final `\r` is taken off, so the parser
/// sees the line as too long.
const KEPT_OF_LONG_LINE: usize = crate::MAX_LINE + 2;

/// The most one read asks for: the buffer is zero-filled up to it before
/// each read, and a chunk size of any size (even `usize::MAX`) must not
/// turn into one giant allocation.
const MAX_READ: usize = 256 * 1024;

/// Appends up to `want` bytes (at most [`MAX_READ`]) from `reader` to
/// `buf`, retrying interrupts.
fn read_up_to(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + want.min(MAX_READ), 0);
    let result = loop {
        match reader.read(&mut buf[start..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let read = *result.as_ref().unwrap_or(&0);
    buf.truncate(start + read);
    result
}

/// Splits `buf` into consecutive slices of whole lines, each about
/// `chunk_size` bytes (a slice ends right after a `\n`, or at the end of
/// `buf`). Concatenated, the slices are `buf`.
///
/// ```
/// let chunks: Vec<&[u8]> = ctparse::line_chunks(b"a\nbb\nccc\n", 4).collect();
/// assert_eq!(chunks, [&b"a\nbb\n"[..], &b"ccc\n"[..]]);
/// ```
pub fn line_chunks(buf: &[u8], chunk_size: usize) -> LineChunks<'_> {
    LineChunks {
        rest: buf,
        chunk_size: chunk_size.max(1),
    }
}

/// The iterator of [`line_chunks`].
#[derive(Debug, Clone)]
pub struct LineChunks<'a> {
    rest: &'a [u8],
    chunk_size: usize,
}

impl<'a> Iterator for LineChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = if self.rest.len() <= self.chunk_size {
            self.rest.len()
        } else {
            // Cut after the first newline at or past the target size, but
            // never after the start of an entry conntrack's stderr was
            // spliced into: its rest, the next line, joins it (and the one
            // after when that one continues too, as one pass over the
            // buffer would read them).
            let mut end = memchr::memchr(b'\n', &self.rest[self.chunk_size - 1..])
                .map_or(self.rest.len(), |i| self.chunk_size + i);
            while end < self.rest.len()
                && crate::continues_on_next_line(crate::line::last_line(&self.rest[..end]))
            {
                end = memchr::memchr(b'\n', &self.rest[end..])
                    .map_or(self.rest.len(), |i| end + i + 1);
            }
            end
        };
        let (chunk, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(chunk)
    }
}

impl std::iter::FusedIterator for LineChunks<'_> {}
