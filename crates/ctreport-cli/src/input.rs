//! Opening inputs: files (mapped), `/proc` files, pipes, stdin, and gzip or
//! zstd compressed dumps detected by their magic bytes.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ctparse::Source;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// What else a capture is often packed in, by its magic bytes, with the
/// command that unpacks it to stdout: named, rather than read as lines of
/// garbage.
const UNREAD: [(&[u8], &str, Option<&str>); 7] = [
    (b"\xfd7zXZ\x00", "xz-compressed", Some("xz -dc")),
    (b"BZh", "bzip2-compressed", Some("bzip2 -dc")),
    (b"\x04\x22\x4d\x18", "lz4-compressed", Some("lz4 -dc")),
    // lz4's legacy frame (`lz4 -l`, and the Linux kernel's own images).
    (
        b"\x02\x21\x4c\x18",
        "lz4-compressed (legacy format)",
        Some("lz4 -dc"),
    ),
    (b"PK\x03\x04", "a zip archive", Some("unzip -p")),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", Some("7z x -so")),
    (b"\x7fELF", "an executable (ELF), not a capture", None),
];

/// The bytes read to tell the formats apart: a tar header (the longest
/// magic is its `ustar`, at offset 257).
const HEAD: usize = TAR_HEADER;

/// A tar header's size; its member name starts it, its magic is at 257.
const TAR_HEADER: usize = 512;

/// One opened input.
pub struct Input {
    /// The name to show (`<stdin>` for standard input).
    pub name: PathBuf,
    /// The bytes.
    pub source: Source,
    /// The size in bytes when known in advance (mapped files).
    pub size: Option<u64>,
    /// The command that unpacks it to stdout, when it is compressed
    /// (`gzip -dc`), for the advice that names its lines.
    pub unpack: Option<&'static str>,
}

/// The inputs named on the command line (`-` or none: stdin), in order.
pub fn names(files: &[PathBuf]) -> Vec<PathBuf> {
    if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    }
}

/// The error [`open`] would give `path`, found without keeping it open;
/// nothing is read from stdin, pipes and devices (they are read once).
pub fn preflight(path: &Path) -> Result<(), String> {
    if path == Path::new("-") || read_once(path) {
        return Ok(());
    }
    // What `open` checks, without mapping the file, nor warning about
    // what the read that follows will warn about.
    let first = first_bytes(path)?;
    if first.packing != Packing::Plain {
        // What it unpacks to may be refused too (a tar archive, xz).
        unpacked(first.packing, first.head, first.file, None).map_err(failed(path))?;
    }
    Ok(())
}

/// A file opened, and its first bytes read: what [`open`] and
/// [`preflight`] both check before they read on.
struct FirstBytes {
    file: File,
    meta: std::fs::Metadata,
    packing: Packing,
    head: Vec<u8>,
}

/// Opens the file `path` (not a directory) and reads how it is packed.
fn first_bytes(path: &Path) -> Result<FirstBytes, String> {
    let mut file = File::open(path).map_err(failed(path))?;
    let meta = file.metadata().map_err(failed(path))?;
    if meta.is_dir() {
        return Err(format!("{}: is a directory", path.display()));
    }
    let (packing, head) = read_packing(&mut file).map_err(failed(path))?;
    Ok(FirstBytes {
        file,
        meta,
        packing,
        head,
    })
}

/// The one-line message of an error opening or reading `path` (`-`:
/// stdin, then named `<stdin>`): a refusal's advice, or the error.
fn failed(path: &Path) -> impl Fn(io::Error) -> String + '_ {
    move |e| {
        let stdin = path == Path::new("-");
        let why = refused(&e, path).unwrap_or_else(|| describe(&e));
        let name = if stdin { Path::new("<stdin>") } else { path };
        format!("{}: {why}", name.display())
    }
}

/// A pipe, socket or character device: what is read from it is gone.
fn read_once(path: &Path) -> bool {
    read_once_identity(path).is_some()
}

/// The device and inode of `path` (`-`: standard input) when it is a
/// pipe, socket or character device: two names of one such input have
/// the same.
#[cfg(unix)]
pub fn read_once_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let path = if path == Path::new("-") {
        Path::new("/dev/stdin")
    } else {
        path
    };
    let meta = std::fs::metadata(path).ok()?;
    let kind = meta.file_type();
    (kind.is_fifo() || kind.is_char_device() || kind.is_socket()).then(|| (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
pub fn read_once_identity(_: &Path) -> Option<(u64, u64)> {
    None
}

/// Opens `path` (`-` is stdin). The error is one line naming the file.
pub fn open(path: &Path) -> Result<Input, String> {
    open_as(path, None)
}

/// [`open`] for a side input: `option` (`--sysctl`) names what a
/// terminal on standard input is waiting for.
pub fn open_as(path: &Path, option: Option<&str>) -> Result<Input, String> {
    if path == Path::new("-") {
        if io::stdin().is_terminal() {
            // Nothing was given: say why the run waits.
            match option {
                Some(option) => say!(
                    "ctreport: reading the {option} input from standard input, a terminal; paste \
                     it and end with Ctrl-D, or give it as a file"
                ),
                None => say!(
                    "ctreport: reading a dump from standard input, a terminal; paste it and end \
                     with Ctrl-D, or give a file (ctreport summary /proc/net/nf_conntrack) or a \
                     pipe (conntrack -L | ctreport summary)"
                ),
            }
        }
        let mut stdin = io::stdin();
        let (packing, head) = read_packing(&mut stdin).map_err(failed(path))?;
        let source =
            unpacked(packing, head, stdin, Some(Path::new("<stdin>"))).map_err(failed(path))?;
        return Ok(Input {
            name: PathBuf::from("<stdin>"),
            source,
            size: None,
            unpack: packing.command(),
        });
    }
    let FirstBytes {
        file,
        meta,
        packing,
        head,
    } = first_bytes(path)?;
    if meta.is_file() && meta.len() > 0 && packing == Packing::Plain {
        let source = Source::open(path).map_err(failed(path))?;
        return Ok(Input {
            name: path.to_owned(),
            source,
            size: Some(meta.len()),
            unpack: None,
        });
    }
    // /proc files (size 0), pipes, devices, and compressed files stream.
    let source = unpacked(packing, head, file, Some(path)).map_err(failed(path))?;
    Ok(Input {
        name: path.to_owned(),
        source,
        size: None,
        unpack: packing.command(),
    })
}

/// Reads until `head` is full or the input ends: one `read` may return
/// less (a pipe, a terminal), and the magic bytes must not be missed.
/// How many bytes it read, and the error that stopped it early, if any.
fn read_head(reader: &mut impl Read, head: &mut [u8]) -> (usize, io::Result<()>) {
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Err(e)),
        }
    }
    (filled, Ok(()))
}

/// An input refused for what its first bytes say it is, carried in an
/// `io::Error` (`InvalidData`) up to [`open`], which adds the commands that
/// get the dump out of it ([`refused`]).
#[derive(Debug)]
enum Refusal {
    /// A packing ctreport does not read (`xz-compressed`), and the command
    /// that unpacks it to stdout, if there is one.
    Packed {
        what: &'static str,
        unpack: Option<&'static str>,
    },
    /// A tar archive, plain or compressed (`what`), and its first file.
    Tar { what: &'static str, member: String },
    /// UTF-16 text (with its byte-order mark), as PowerShell's `>` writes.
    Utf16,
    /// A packing of [`UNREAD`] inside gzip or zstd (`outer`, the command
    /// that unpacks that: `gzip -dc`).
    Inside {
        what: &'static str,
        unpack: Option<&'static str>,
        outer: &'static str,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Packed { what, unpack: None } => write!(f, "{what}"),
            Refusal::Packed { what, .. } => {
                write!(f, "{what}; ctreport reads plain, gzip and zstd dumps")
            }
            Refusal::Tar { what, member } => {
                write!(f, "{what} (first file: {member}); ctreport reads one dump")
            }
            Refusal::Utf16 => write!(
                f,
                "UTF-16 text (as Windows PowerShell's > writes it); ctreport reads UTF-8"
            ),
            Refusal::Inside { what, outer, .. } => write!(
                f,
                "{what}, inside {}; ctreport reads plain, gzip and zstd dumps",
                outer.split(' ').next().unwrap_or(outer)
            ),
        }
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    fn into_error(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The message with what to do, for `path` (`-`: stdin).
    fn advice(&self, path: &Path) -> String {
        let hint = Hint::new(path);
        match self {
            Refusal::Packed {
                unpack: Some(command),
                ..
            } => format!(
                "{self}: unpack it first, e.g. `{command} {} | {}`",
                hint.file, hint.rerun
            ),
            Refusal::Packed { unpack: None, .. } => self.to_string(),
            Refusal::Utf16 => format!(
                "{self}: convert it first, e.g. `iconv -f UTF-16 -t UTF-8 {} | {}`",
                hint.file, hint.rerun
            ),
            Refusal::Inside {
                unpack: Some(unpack),
                outer,
                ..
            } => format!(
                "{self}: unpack both first, e.g. `{outer} {} | {unpack} | {}`",
                hint.file, hint.rerun
            ),
            Refusal::Inside { unpack: None, .. } => self.to_string(),
            Refusal::Tar { .. } => format!(
                "{self}: list the files with `tar -tf {file}` and read the dump's with \
                 `tar -xOf {file} PATH | {rerun}`",
                file = hint.file,
                rerun = hint.rerun
            ),
        }
    }
}

/// The advice for `error` when it is a [`Refusal`] of `path`.
fn refused(error: &io::Error, path: &Path) -> Option<String> {
    let refusal = error.get_ref()?.downcast_ref::<Refusal>()?;
    Some(refusal.advice(path))
}

/// What `ctreport` says when a mapped input shrinks while it is read:
/// `path: ...`, without the `ctreport: ` before it.
pub fn shrunk(path: &Path) -> String {
    stopped(
        path,
        "shrank while it was read (another process truncated or rewrote it)",
    )
}

/// `path: the file WHAT; stopped, ...`: a file read in place that another
/// process truncated or wrote to, and what to do.
fn stopped(path: &Path, what: &str) -> String {
    format!(
        "{}: the file {what}; stopped, as what was read may mix two versions of it. Run again once the writer is done, or on a copy made then (`cp {file} {file}.copy`)",
        path.display(),
        file = shell_word(&path.to_string_lossy()),
    )
}

/// What a file read in place that failed part way says: it shrank, it
/// was written to ([`ctparse::Changed`]), or the error.
pub fn mapped_failed(path: &Path, error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        return shrunk(path);
    }
    if error
        .get_ref()
        .is_some_and(|e| e.downcast_ref::<ctparse::Changed>().is_some())
    {
        return stopped(
            path,
            "changed while it was read (another process wrote to it)",
        );
    }
    format!("{}: {}", path.display(), describe(error))
}

/// [`shrunk`] as a line of stderr, for the signal handler that stops a
/// read of a mapped file's vanished pages
/// ([`ctparse::exit_when_mapped_file_shrinks`]).
pub fn shrunk_line(path: &Path) -> String {
    // On a terminal, over the progress bar's line rather than after it.
    let clear = if io::stderr().is_terminal() {
        "\r\x1b[2K"
    } else {
        ""
    };
    format!("{clear}ctreport: {}\n", shrunk(path))
}

/// `path` as a shell word, and this run's command line reading it from
/// standard input instead (`ctreport top-ips --prefix 24 -`).
pub fn with_stdin(path: &Path) -> (String, String) {
    let hint = Hint::new(path);
    (hint.file, hint.rerun)
}

/// What the advice on a refused input names: the input in a command, and
/// this run again, reading the unpacked dump from standard input.
struct Hint {
    /// The path as a shell word, or `FILE` for standard input.
    file: String,
    /// This run's command line with the input as `-`:
    /// `ctreport top-ips --prefix 24 -`.
    rerun: String,
}

impl Hint {
    fn new(path: &Path) -> Hint {
        let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let file = if path == Path::new("-") {
            if !args.iter().any(|a| a == "-") {
                args.push("-".into());
            }
            "FILE".to_owned()
        } else {
            // The input's own argument: the last one, files coming last.
            if let Some(at) = args.iter().rposition(|a| a.as_os_str() == path.as_os_str()) {
                args[at] = "-".into();
            }
            shell_word(&path.to_string_lossy())
        };
        let words: Vec<String> = std::iter::once("ctreport".to_owned())
            .chain(args.iter().map(|a| shell_word(&a.to_string_lossy())))
            .collect();
        Hint {
            file,
            rerun: words.join(" "),
        }
    }
}

/// `word` as a POSIX shell reads it back: as is when it is plain, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./=:,@%+-".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How an input is packed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packing {
    Plain,
    Gzip,
    Zstd,
}

impl Packing {
    /// The command that unpacks it to stdout (`gzip -dc`); none for plain.
    fn command(self) -> Option<&'static str> {
        match self {
            Packing::Gzip => Some("gzip -dc"),
            Packing::Zstd => Some("zstd -dc"),
            Packing::Plain => None,
        }
    }
}

/// How `head` (an input's first bytes) is packed; an error naming the
/// format when it starts like one of [`UNREAD`] (bzip2's `BZh` only with
/// its block-size digit after it).
fn packing(head: &[u8]) -> io::Result<Packing> {
    refuse_tar(head, "a tar archive")?;
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return Err(Refusal::Utf16.into_error());
    }
    let packing = packing_of(head);
    if packing != Packing::Plain {
        return Ok(packing);
    }
    match unread(head) {
        Some((what, unpack)) => Err(Refusal::Packed { what, unpack }.into_error()),
        None => Ok(Packing::Plain),
    }
}

/// The packing of [`UNREAD`] that `head` starts with, and its unpacking
/// command (bzip2's `BZh` only with its block-size digit after it).
fn unread(head: &[u8]) -> Option<(&'static str, Option<&'static str>)> {
    let &(magic, what, unpack) = UNREAD.iter().find(|(magic, ..)| head.starts_with(magic))?;
    if magic == b"BZh" && !head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return None;
    }
    Some((what, unpack))
}

/// An error when `head` is a tar header (`ustar` at 257 and a valid
/// checksum): a capture directory packed with `tar` holds the dump among
/// other files, and read as lines it would count them all. `what` names
/// the packing (`a gzip-compressed tar archive`).
fn refuse_tar(head: &[u8], what: &'static str) -> io::Result<()> {
    let Some(header) = head.get(..TAR_HEADER) else {
        return Ok(());
    };
    if &header[257..262] != b"ustar" {
        return Ok(());
    }
    // The checksum: the header's bytes summed, its own 8 counted as spaces,
    // written in octal.
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    let checksum = String::from_utf8_lossy(&header[148..156]);
    let written = checksum.trim_matches(|c: char| c == ' ' || c == '\0');
    if u32::from_str_radix(written, 8) != Ok(sum) {
        return Ok(());
    }
    // The name, after the ustar prefix (a directory) when there is one.
    let field = |range: std::ops::Range<usize>| {
        let bytes = header[range].split(|&b| b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    };
    let (prefix, name) = (field(345..500), field(0..100));
    let member = if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    };
    Err(Refusal::Tar { what, member }.into_error())
}

/// Wraps a stream in a decoder when it starts with a gzip or zstd magic,
/// as [`open`] does standard input.
#[cfg(test)]
fn decompressing(mut reader: impl Read + Send + 'static, name: &Path) -> io::Result<Source> {
    let (packing, head) = read_packing(&mut reader)?;
    unpacked(packing, head, reader, Some(name))
}

/// Reads the first bytes of `reader` in full, and how they say it is
/// packed.
fn read_packing(reader: &mut impl Read) -> io::Result<(Packing, Vec<u8>)> {
    let mut head = vec![0u8; HEAD];
    let (filled, read) = read_head(reader, &mut head);
    read?;
    head.truncate(filled);
    Ok((packing(&head)?, head))
}

/// The stream of `head` (the bytes already read) then the rest of
/// `reader` (the input `name`), decoded as `packing` says.
fn unpacked(
    packing: Packing,
    head: Vec<u8>,
    reader: impl Read + Send + 'static,
    name: Option<&Path>,
) -> io::Result<Source> {
    unpacked_within(packing, head, reader, name, NESTED_PACKINGS)
}

/// How many packings inside each other are unpacked (`dump.gz` gzipped
/// again by an upload): a few, not a gzip quine's endless layers.
const NESTED_PACKINGS: usize = 3;

/// [`unpacked`], unpacking what comes out again while `depth` allows.
fn unpacked_within(
    packing: Packing,
    head: Vec<u8>,
    reader: impl Read + Send + 'static,
    name: Option<&Path>,
    depth: usize,
) -> io::Result<Source> {
    let buffered = BufReader::with_capacity(1 << 16, io::Cursor::new(head).chain(reader));
    let (mut decoded, what): (Box<dyn Read + Send>, &str) = match packing {
        Packing::Gzip => (
            Box::new(GzipMembers::new(buffered, name)),
            "a gzip-compressed tar archive",
        ),
        Packing::Zstd => (
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
            "a zstd-compressed tar archive",
        ),
        Packing::Plain => return Ok(Source::from_reader(buffered)),
    };
    // What it decompresses to may be a tar archive in turn (`.tar.gz`).
    // A decoding error this early (a file cut short) is the pass's to
    // report, after the bytes before it, as it is anywhere later.
    let mut head = vec![0u8; TAR_HEADER];
    let (filled, read) = read_head(&mut decoded, &mut head);
    head.truncate(filled);
    refuse_tar(&head, what)?;
    if let Some((what, unpack)) = unread(&head) {
        return Err(Refusal::Inside {
            what,
            unpack,
            outer: packing.command().unwrap_or("cat"),
        }
        .into_error());
    }
    let rest: Box<dyn Read + Send> = match read {
        Err(error) => Box::new(Failed(Some(error))),
        Ok(()) => decoded,
    };
    // Compressed twice: unpacked once more.
    let inner = match packing_of(&head) {
        Packing::Plain => Packing::Plain,
        _ if depth <= 1 => {
            return Err(Refusal::Packed {
                what: "compressed more than 3 times, one packing inside the other",
                unpack: None,
            }
            .into_error());
        }
        nested => nested,
    };
    let decoded = io::Cursor::new(head).chain(rest);
    match inner {
        Packing::Plain => Ok(Source::from_reader(decoded)),
        nested => unpacked_within(nested, Vec::new(), decoded, name, depth - 1),
    }
}

/// The gzip or zstd packing `head` starts with; plain otherwise.
fn packing_of(head: &[u8]) -> Packing {
    if head.starts_with(GZIP_MAGIC) {
        Packing::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Packing::Zstd
    } else {
        Packing::Plain
    }
}

/// The members of a gzip file one after the other, as `gzip -d` reads
/// them: after the last, zero bytes (padding) are ignored, and other bytes
/// too, with a warning, where flate2's `MultiGzDecoder` fails on them as
/// on a file cut short ("invalid gzip header").
struct GzipMembers<R> {
    decoder: Option<flate2::bufread::GzDecoder<Rewind<R>>>,
    /// The input, to name in the warning; none for a look that warns
    /// about nothing (the read that follows does).
    name: Option<PathBuf>,
}

impl<R: BufRead> GzipMembers<R> {
    fn new(reader: R, name: Option<&Path>) -> GzipMembers<R> {
        let reader = Rewind {
            taken: Vec::new(),
            inner: reader,
        };
        GzipMembers {
            decoder: Some(flate2::bufread::GzDecoder::new(reader)),
            name: name.map(Path::to_owned),
        }
    }
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = &mut self.decoder else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // A member ended: another one, or the end of the gzip data.
            let Some(mut rest) = self.decoder.take().map(|d| d.into_inner()) else {
                return Ok(0);
            };
            let mut next = [0u8; 2];
            let (filled, read) = read_head(&mut rest, &mut next);
            read?;
            if next[..filled] == *GZIP_MAGIC {
                rest.taken = next.to_vec();
                self.decoder = Some(flate2::bufread::GzDecoder::new(rest));
                continue;
            }
            let mut zeros = next[..filled].iter().all(|&b| b == 0);
            let mut bytes = filled as u64;
            loop {
                let chunk = rest.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                zeros &= chunk.iter().all(|&b| b == 0);
                bytes += chunk.len() as u64;
                let len = chunk.len();
                rest.consume(len);
            }
            if let Some(name) = self.name.as_ref().filter(|_| !zeros) {
                say!(
                    "ctreport: {}: warning: {} after the end of the gzip data {} not gzip and \
                     ignored, as gzip ignores them; every line of the gzip data was read",
                    name.display(),
                    match bytes {
                        1 => "1 byte".to_owned(),
                        n => format!("{} bytes", crate::report::thousands(n)),
                    },
                    if bytes == 1 { "is" } else { "are" }
                );
            }
            return Ok(0);
        }
    }
}

/// A `BufRead` that gives back the bytes `taken` from it first: the two
/// read to tell a next gzip member from the end.
struct Rewind<R> {
    taken: Vec<u8>,
    inner: R,
}

impl<R: BufRead> Read for Rewind<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Rewind<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.taken.is_empty() {
            self.inner.fill_buf()
        } else {
            Ok(&self.taken)
        }
    }

    fn consume(&mut self, amount: usize) {
        if self.taken.is_empty() {
            self.inner.consume(amount);
        } else {
            self.taken.drain(..amount.min(self.taken.len()));
        }
    }
}

/// A reader that fails with its error once, then ends.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

/// `No such file or directory` rather than `No such file or directory (os error 2)`.
pub fn describe(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A progress bar on stderr for inputs worth one: only when stderr is a
/// terminal, `--quiet` is off, and the input is large or of unknown size.
pub fn progress_bar(input: &Input, quiet: bool) -> Option<ProgressBar> {
    if quiet || !io::stderr().is_terminal() || input.size.is_some_and(|s| s < 64 << 20) {
        return None;
    }
    let bar = match input.size {
        Some(size) => ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                // indicatif's default frames are braille (UTF-8).
                .tick_chars(if utf8_locale() {
                    "⠁⠂⠄⡀⢀⠠⠐⠈ "
                } else {
                    "|/-\\ "
                }),
        ),
    };
    // The file name only: a long path would wrap the bar on a narrow terminal.
    let name = input.name.file_name().map_or_else(
        || input.name.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    bar.set_message(name);
    Some(bar)
}

/// Whether the terminal's locale takes UTF-8, as the first of `LC_ALL`,
/// `LC_CTYPE` and `LANG` that is set says (`C` and `POSIX` do not).
fn utf8_locale() -> bool {
    utf8_locale_in(|name| std::env::var(name).ok())
}

/// [`utf8_locale`] with the environment read by `var`.
fn utf8_locale_in(var: impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()))
        .is_some_and(|locale| {
            let locale = locale.to_ascii_lowercase();
            locale.contains("utf-8") || locale.contains("utf8")
        })
}

/// The analyzer's progress callback for `bar`.
pub fn progress_callback(bar: &ProgressBar) -> ctanalyze::Progress {
    let bar = bar.clone();
    Arc::new(move |bytes| bar.inc(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// What the hints quote, a shell reads back as it was.
    #[test]
    fn shell_words_read_back_as_they_were() {
        for word in [
            "dump.txt",
            "/var/tmp/ct-2026-12-07.txt",
            "my dump.txt",
            "it's",
            "",
            "$HOME",
            "a\"b\\c",
            "*;|&",
        ] {
            let quoted = shell_word(word);
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {quoted}")])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word, "{quoted}");
        }
        assert_eq!(shell_word("dump-1.txt"), "dump-1.txt");
    }

    /// A gzip file is read as `gzip -d` reads it: member after member,
    /// then padding (zeros) or other bytes after the last member ignored,
    /// where they were an error ("invalid gzip header") that called the
    /// complete data cut short. A member cut short is still an error.
    #[test]
    fn gzip_members_then_trailing_bytes() {
        let gzip = |text: &[u8]| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap()
        };
        let read = |bytes: Vec<u8>| {
            let Source::Stream(mut stream) =
                decompressing(ByteByByte(io::Cursor::new(bytes)), Path::new("t")).unwrap()
            else {
                panic!("a stream")
            };
            let mut text = Vec::new();
            stream.0.read_to_end(&mut text).map(|_| text)
        };
        let (one, two) = (gzip(b"one\n"), gzip(b"two\n"));
        let cases: [(&[&[u8]], &[u8]); 5] = [
            (&[&one], b"one\n"),
            (&[&one, &two], b"one\ntwo\n"),
            (&[&one, &[0; 100]], b"one\n"),
            (&[&one, &two, b"junk\n"], b"one\ntwo\n"),
            (&[&one, b"\x1f"], b"one\n"),
        ];
        for (parts, text) in cases {
            assert_eq!(read(parts.concat()).unwrap(), text, "{parts:?}");
        }
        // The second member cut short (its header and part of its data).
        let cut = [&one[..], &two[..two.len() - 9]].concat();
        assert!(read(cut).is_err());
    }

    /// A dump compressed twice (gzip of a `.gz`, zstd of a `.gz`) is
    /// unpacked twice, where the compressed bytes were read as lines.
    #[test]
    fn packings_inside_packings_are_unpacked() {
        let text = b"ipv4     2 udp      17 30 src=192.0.2.1\n".repeat(50);
        let gzip = |bytes: &[u8]| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        };
        let once = gzip(&text);
        let thrice = gzip(&gzip(&once));
        for packed in [
            gzip(&once),
            zstd::encode_all(&once[..], 1).unwrap(),
            thrice.clone(),
        ] {
            let Source::Stream(mut stream) =
                decompressing(ByteByByte(io::Cursor::new(packed)), Path::new("t")).unwrap()
            else {
                panic!("a stream")
            };
            let mut out = Vec::new();
            stream.0.read_to_end(&mut out).unwrap();
            assert_eq!(out, text);
        }
        // A packing ctreport does not read, inside one it reads, is named
        // with both unpacking commands.
        let xz_inside = gzip(b"\xfd7zXZ\x00\x00\x04 and the rest");
        let Err(error) = decompressing(io::Cursor::new(xz_inside), Path::new("t")) else {
            panic!("xz inside gzip was read");
        };
        assert_eq!(
            refused(&error, Path::new("d.gz")).unwrap(),
            format!(
                "xz-compressed, inside gzip; ctreport reads plain, gzip and zstd dumps: unpack \
                 both first, e.g. `gzip -dc d.gz | xz -dc | {}`",
                Hint::new(Path::new("d.gz")).rerun
            )
        );
        // A fourth layer is refused (a gzip quine would go on forever).
        let Err(error) = decompressing(io::Cursor::new(gzip(&thrice)), Path::new("t")) else {
            panic!("four layers were read");
        };
        assert!(
            error
                .to_string()
                .starts_with("compressed more than 3 times"),
            "{error}"
        );
    }

    /// The spinner's frames are braille only where the locale takes
    /// UTF-8: `LC_ALL=C` wins over a UTF-8 `LANG`, an empty one does not.
    #[test]
    fn the_locale_decides_the_spinner() {
        let env = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            utf8_locale_in(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        assert!(env(&[("LANG", "en_US.UTF-8")]));
        assert!(env(&[("LC_ALL", ""), ("LANG", "de_DE.utf8")]));
        assert!(!env(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")]));
        assert!(!env(&[("LC_CTYPE", "POSIX")]));
        assert!(!env(&[]));
    }

    /// A pipe at its slowest: one byte per `read`.
    struct ByteByByte(io::Cursor<Vec<u8>>);

    impl Read for ByteByByte {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let one = buf.len().min(1);
            self.0.read(&mut buf[..one])
        }
    }

    fn read_all(source: Source) -> Vec<u8> {
        let Source::Stream(mut stream) = source else {
            panic!("a reader streams");
        };
        let mut out = Vec::new();
        stream.0.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn compression_is_detected_when_reads_return_one_byte() {
        let text = b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53\n".repeat(3);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&text[..], 1).unwrap();
        for (name, bytes) in [("gzip", gz), ("zstd", zst), ("plain", text.clone())] {
            let source = decompressing(ByteByByte(io::Cursor::new(bytes)), Path::new("t")).unwrap();
            assert_eq!(read_all(source), text, "{name}");
        }
        // Shorter than any magic, and empty: read as they are.
        for bytes in [&b"\x1f"[..], b"\x28\xb5", b"", b"BZh"] {
            let source =
                decompressing(ByteByByte(io::Cursor::new(bytes.to_vec())), Path::new("t")).unwrap();
            assert_eq!(read_all(source), bytes);
        }
    }

    #[test]
    fn other_packings_are_named_not_read() {
        let text = b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53\n";
        for (packed, named) in [
            (&b"\xfd7zXZ\x00\x00\x04"[..], "xz-compressed; "),
            (b"BZh91AY&SY", "bzip2-compressed; "),
            (b"\x04\x22\x4d\x18\x64\x40", "lz4-compressed; "),
            (
                b"\x02\x21\x4c\x18\x00\x00",
                "lz4-compressed (legacy format); ",
            ),
            (b"PK\x03\x04\x14\x00", "a zip archive; "),
            (b"7z\xbc\xaf\x27\x1c\x00", "a 7-Zip archive; "),
            (b"\x7fELF\x02\x01\x01", "an executable (ELF), not a capture"),
            (
                b"\xff\xfeu\x00",
                "UTF-16 text (as Windows PowerShell's > writes it)",
            ),
            (
                b"\xfe\xff\x00u",
                "UTF-16 text (as Windows PowerShell's > writes it)",
            ),
        ] {
            let input = [packed, &text[..]].concat();
            let Err(error) = decompressing(ByteByByte(io::Cursor::new(input)), Path::new("t"))
            else {
                panic!("{named} was read");
            };
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert!(error.to_string().starts_with(named), "{error}");
        }
        // `BZh` without its digit is text.
        let source =
            decompressing(io::Cursor::new(b"BZh is a word\n".to_vec()), Path::new("t")).unwrap();
        assert_eq!(read_all(source), b"BZh is a word\n");
    }

    /// A gzip file cut before its first 512 bytes decode: opening it is
    /// not the error; reading gives what decoded, then the error, as a
    /// file cut anywhere later does.
    #[test]
    fn a_gzip_cut_within_the_head_fails_when_read() {
        let text = b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53\n".repeat(4);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let mut gz = gz.finish().unwrap();
        gz.truncate(gz.len() - 6); // the trailer's checksum and size
        let Source::Stream(mut stream) =
            decompressing(io::Cursor::new(gz), Path::new("t")).unwrap()
        else {
            panic!("a reader streams");
        };
        let mut out = Vec::new();
        let error = stream.0.read_to_end(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");
        assert_eq!(out, text);
    }

    /// A tar header for `name` (a file of `size` bytes) as `tar` writes
    /// one: ustar magic, octal fields, the checksum over the header.
    fn tar_header(name: &str, size: usize) -> Vec<u8> {
        let mut header = vec![0u8; TAR_HEADER];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..107].copy_from_slice(b"0000644");
        header[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        header
    }

    /// A capture packed with `tar`, plain or compressed, is named with its
    /// first file; a header whose checksum is off, or a dump that happens
    /// to hold `ustar` at the magic's offset, is read as it is.
    #[test]
    fn tar_archives_are_named_not_read() {
        let text = b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53\n".repeat(8);
        let mut tar = tar_header("capture/nf_conntrack.txt", text.len());
        tar.extend_from_slice(&text);
        tar.resize(tar.len().next_multiple_of(512) + 1024, 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        for (bytes, named) in [
            (tar.clone(), "a tar archive"),
            (gz, "a gzip-compressed tar archive"),
            (zst, "a zstd-compressed tar archive"),
        ] {
            let Err(error) = decompressing(ByteByByte(io::Cursor::new(bytes)), Path::new("t"))
            else {
                panic!("{named} was read");
            };
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            let expected = format!("{named} (first file: capture/nf_conntrack.txt); ");
            assert!(error.to_string().starts_with(&expected), "{error}");
        }
        let mut off = tar.clone();
        off[0] ^= 1;
        let source = decompressing(io::Cursor::new(off.clone()), Path::new("t")).unwrap();
        assert_eq!(read_all(source), off);
        let mut dump = text.clone();
        dump[257..262].copy_from_slice(b"ustar");
        let source = decompressing(io::Cursor::new(dump.clone()), Path::new("t")).unwrap();
        assert_eq!(read_all(source), dump);
    }
}
