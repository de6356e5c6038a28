//! Running the analyzer over every input and reporting malformed lines.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ctanalyze::{Aggregates, Analyzer, Filter, Merge, Summary};
use ctparse::Source;

use crate::exit::Fatal;
use crate::input;

/// Per-file line counts.
#[derive(Debug, Clone)]
pub struct InputTotals {
    /// The file (or `<stdin>`).
    pub path: PathBuf,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Flow lines.
    pub flows: u64,
    /// Blank lines and tool messages.
    pub skipped: u64,
    /// Malformed lines.
    pub errors: u64,
    /// Of `errors`, conntrack-tools' own failure messages (not entries).
    pub failures: u64,
    /// The input ends without a line end after an entry: the entry that
    /// last line holds may have been cut short.
    pub unterminated_entry: bool,
    /// Where and why reading stopped before the end of the input (a
    /// compressed file cut short, an I/O error); the counts are of what was
    /// read before.
    pub read_error: Option<Stopped>,
    /// conntrack-tools trailers in the input, and the entries they say
    /// were shown: a check on `flows`.
    pub trailers: u64,
    pub shown: u64,
    /// The command that unpacks the input, when it was compressed.
    pub unpack: Option<&'static str>,
}

impl InputTotals {
    /// True when the input gave no entry but malformed lines: the wrong
    /// file, or a capture that failed (conntrack's own error message).
    pub fn unusable(&self) -> bool {
        self.flows == 0 && self.errors > 0
    }

    /// The entries the input holds, read or malformed, when its trailers
    /// say another number were shown (and no read error explains it).
    /// conntrack's failure messages are not entries.
    fn trailer_mismatch(&self) -> Option<u64> {
        let read = self.flows + self.errors - self.failures;
        (self.trailers > 0 && self.shown != read && self.read_error.is_none()).then_some(read)
    }
}

/// Where a read error stopped an input: just after the last byte read, on
/// the line it cut short (which is not counted). As JSON, the input's
/// `read_error`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stopped {
    pub line: u64,
    pub column: u64,
    /// The reader's message (`incomplete deflate stream`).
    pub message: String,
}

/// The result of one pass over all inputs.
#[derive(Debug)]
pub struct Analysis {
    /// Per-input totals, in command-line order.
    pub inputs: Vec<InputTotals>,
    /// Everything merged.
    pub summary: Summary,
}

impl Analysis {
    /// The path of input `index`.
    pub fn path(&self, index: usize) -> &std::path::Path {
        &self.inputs[index].path
    }
}

/// Options of a pass.
pub struct Pass<'a> {
    pub files: &'a [PathBuf],
    pub filter: Filter,
    pub threads: usize,
    pub quiet: bool,
    /// Errors to keep (for printing and for the report).
    pub keep_errors: usize,
    /// The keyed aggregates the command shows; the others are not computed.
    pub aggregates: Aggregates,
}

/// A reader that shows what it reads to a [`LastLine`].
struct Tapped {
    inner: Box<dyn Read + Send>,
    last_line: Arc<LastLine>,
}

impl Read for Tapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last_line.add(&buf[..n]);
        }
        Ok(n)
    }
}

/// Shows `source` to `last_line`: a mapped file at once, a stream as it
/// is read.
fn tapped(source: Source, last_line: Arc<LastLine>) -> Source {
    match source {
        Source::Mapped(map) => {
            last_line.add(&map);
            Source::Mapped(map)
        }
        Source::Stream(stream) => Source::from_reader(Tapped {
            inner: stream.0,
            last_line,
        }),
    }
}

/// What one input holds after the last line end
/// seen so far: the last line, once the input is read, when the input
/// does not end with a line end. Bounded: a longer last line is not kept
/// (and not judged).
#[derive(Debug, Default)]
pub struct LastLine(Mutex<Tail>);

#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    too_long: bool,
    /// The whole line before, with its line end, when the last line is
    /// the rest of its entry ([`ctparse::continues_on_next_line`]); else
    /// empty.
    previous: Vec<u8>,
}

impl LastLine {
    const MAX: usize = 1 << 16;

    fn tail(&self) -> MutexGuard<'_, Tail> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, bytes: &[u8]) {
        let mut tail = self.tail();
        let rest = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(at) => {
                // The line that ends here, kept when the next continues it.
                let previous = match bytes[..at].iter().rposition(|&b| b == b'\n') {
                    Some(start) => &bytes[start + 1..=at],
                    None if tail.too_long => &[][..],
                    None => {
                        tail.bytes.extend_from_slice(&bytes[..=at]);
                        &tail.bytes
                    }
                };
                let previous = if ctparse::continues_on_next_line(previous) {
                    previous.to_vec()
                } else {
                    Vec::new()
                };
                tail.previous = previous;
                tail.bytes.clear();
                tail.too_long = false;
                &bytes[at + 1..]
            }
            None => bytes,
        };
        if tail.bytes.len() + rest.len() > LastLine::MAX {
            tail.too_long = true;
            tail.bytes.clear();
        } else if !tail.too_long {
            tail.bytes.extend_from_slice(rest);
        }
    }

    /// True when the input ended without a line end after an entry, or
    /// after the rest of one that conntrack's stderr was spliced into (the
    /// two are mended into one).
    pub fn is_entry(&self) -> bool {
        let tail = self.tail();
        if tail.too_long || tail.bytes.is_empty() {
            return false;
        }
        let lines = [&tail.previous[..], &tail.bytes].concat();
        let mut entries = 0;
        ctparse::Parser::new(&lines).for_each_ref(|item| entries += usize::from(item.is_ok()));
        // The line before never parses alone (a message is spliced into it).
        entries > 0
    }
}

/// An analyzer of `threads` threads (0: one per core), or of one with a
/// warning where the system refuses to start them (a limit on tasks, as
/// on a host in trouble): the report is the same, only slower.
pub fn threads(threads: usize) -> Analyzer {
    Analyzer::new()
        .try_threads(threads)
        .unwrap_or_else(|error| {
            warn_one_thread(error);
            Analyzer::new().threads(1)
        })
}

/// Says that threads could not start (`error`) and the reading goes on
/// one thread: once, for the commands that read several passes (`diff`).
pub fn warn_one_thread(error: impl std::fmt::Display) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| say!("ctreport: warning: {error}; reading on one thread"));
}

/// Analyzes every input. A file that cannot be opened is fatal; one whose
/// reading fails part way (a compressed file cut short) counts what was
/// read before, and its [`InputTotals::read_error`] says where it stopped.
pub fn run(pass: Pass<'_>) -> Result<Analysis, Fatal> {
    let analyzer = threads(pass.threads)
        .max_errors(pass.keep_errors)
        .filter(pass.filter)
        .aggregates(pass.aggregates);
    let mut inputs = Vec::new();
    let mut summary = Summary::with_error_limit(pass.keep_errors);
    let names = input::names(pass.files);
    warn_repeated_inputs(&names)?;
    for (index, name) in names.iter().enumerate() {
        let mut opened = input::open(name).map_err(Fatal::Input)?;
        let last_line = Arc::new(LastLine::default());
        opened.source = tapped(opened.source, last_line.clone());
        let bar = input::progress_bar(&opened, pass.quiet);
        let analyzer = match &bar {
            Some(bar) => analyzer.clone().progress(input::progress_callback(bar)),
            None => analyzer.clone(),
        };
        let mapped = matches!(opened.source, Source::Mapped(_));
        let analyzed = analyzer.analyze_source(index, opened.source);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let (part, read_error) = match analyzed {
            Ok(part) => (part, None),
            // A file read in place that shrank or failed: what was read
            // is not a prefix of one version of it.
            Err(e) if mapped => {
                return Err(Fatal::Input(input::mapped_failed(&opened.name, e.error())));
            }
            Err(e) => {
                let cut = e.cut();
                let (error, part) = e.into_parts();
                let stopped = Stopped {
                    line: part.totals.lines + 1,
                    column: cut + 1,
                    message: input::describe(&error),
                };
                (part, Some(stopped))
            }
        };
        let t = &part.totals;
        inputs.push(InputTotals {
            path: opened.name,
            bytes: t.bytes,
            lines: t.lines,
            flows: t.flows,
            skipped: t.skipped,
            errors: t.errors,
            failures: t.failures,
            // After a read error the last bytes are the cut line, said so.
            unterminated_entry: read_error.is_none() && last_line.is_entry(),
            read_error,
            trailers: t.trailers,
            shown: t.shown,
            unpack: opened.unpack,
        });
        summary.merge(part);
    }
    Ok(Analysis { inputs, summary })
}

/// Says so when one file is given more than once: its entries would be
/// counted once for each time. A stream given twice is an error
/// ([`refuse_repeated_streams`]).
pub fn warn_repeated_inputs(names: &[PathBuf]) -> Result<(), Fatal> {
    refuse_repeated_streams(names.iter().map(PathBuf::as_path))?;
    let mut seen: Vec<PathBuf> = Vec::new();
    for name in names {
        // Standard input redirected from a file is that file.
        let path = if name.as_os_str() == "-" {
            std::path::Path::new("/dev/stdin")
        } else {
            name
        };
        let same = std::fs::canonicalize(path).unwrap_or_else(|_| name.clone());
        if seen.contains(&same) {
            say!(
                "ctreport: warning: {} is given more than once: its entries are counted each time",
                name.display()
            );
        } else {
            seen.push(same);
        }
    }
    Ok(())
}

/// An error when standard input, or a pipe or device under any names
/// (`/dev/stdin` and `-`, a FIFO twice), is among `names` more than once:
/// what is read from it is gone, so the second read finds nothing, or
/// waits forever for a writer that has left.
pub fn refuse_repeated_streams<'a>(
    names: impl IntoIterator<Item = &'a std::path::Path>,
) -> Result<(), Fatal> {
    let names: Vec<&std::path::Path> = names.into_iter().collect();
    if names.iter().filter(|name| name.as_os_str() == "-").count() > 1 {
        return Err(Fatal::Usage(
            "standard input (-) can be read only once: give it once, and the other inputs as files"
                .to_owned(),
        ));
    }
    let mut streams = Vec::new();
    for name in names {
        if let Some(identity) = input::read_once_identity(name) {
            if streams.contains(&identity) {
                return Err(Fatal::Usage(format!(
                    "{} is a pipe or device given before (as another name, perhaps): what is read from it is gone; give it once",
                    name.display()
                )));
            }
            streams.push(identity);
        }
    }
    Ok(())
}

/// Prints the first `max` malformed lines to stderr as
/// `ctreport: FILE:LINE:COL: MESSAGE`, then how many were not shown.
pub fn print_errors(analysis: &Analysis, max: usize) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let samples = &analysis.summary.totals.error_samples.samples;
    for sample in samples.iter().take(max) {
        let _ = writeln!(
            err,
            "ctreport: {}",
            sample.error.display_in(analysis.path(sample.input))
        );
    }
    let total = analysis.summary.totals.errors;
    let shown = samples.len().min(max) as u64;
    if total > shown {
        let _ = writeln!(
            err,
            "ctreport: {} more malformed line{} not shown (--max-errors {max})",
            crate::report::thousands(total - shown),
            if total - shown == 1 { "" } else { "s" }
        );
    }
    warn_about_inputs(analysis, &mut err);
}

/// Says so when an input ends in an entry without a line end (a capture
/// cut short may end in a partial entry that still reads as one), and when
/// an input gave no entry at all but malformed lines (the wrong file,
/// garbage, a failed capture): its report would otherwise be empty
/// sections that look like an empty table. An input that could not be
/// read to its end is an error, said last, where it is seen.
pub fn warn_about_inputs(analysis: &Analysis, err: &mut impl Write) {
    for input in &analysis.inputs {
        warn_about_input(input, err);
    }
    for input in &analysis.inputs {
        if let Some(stopped) = &input.read_error {
            let counted = match input.lines {
                0 => "no whole line before it could be read".to_owned(),
                1 => "the report counts only the line before this one".to_owned(),
                n => format!(
                    "the report counts only the {} lines before this one",
                    crate::report::thousands(n)
                ),
            };
            let _ = writeln!(
                err,
                "ctreport: {}:{}:{}: error: cannot read on: {}; {counted} (a capture cut short \
                 or a damaged file)",
                input.path.display(),
                stopped.line,
                stopped.column,
                stopped.message,
            );
        }
    }
}

/// The checks on one input, whatever the command: an entry without a
/// line end at its end, no line at all, no entry but malformed lines,
/// and a trailer that disagrees with the entries the input holds.
pub fn warn_about_input(input: &InputTotals, err: &mut impl Write) {
    if input.unterminated_entry {
        let _ = writeln!(
            err,
            "ctreport: {}:{}: warning: the input ends in this entry without a line end: if the \
             capture was cut short, the entry is incomplete (it is counted as it reads)",
            input.path.display(),
            input.lines,
        );
    }
    if input.lines == 0 && input.read_error.is_none() {
        let _ = writeln!(
            err,
            "ctreport: {}: warning: the input is empty: an empty table, or a capture that \
             failed before it wrote anything",
            input.path.display()
        );
    } else if input.flows == 0
        && input.errors == 0
        && input.read_error.is_none()
        && input.trailers == 0
    {
        // Blank lines, or lines skipped as not conntrack's; no trailer of
        // conntrack's saying the table was empty.
        let _ = writeln!(
            err,
            "ctreport: {}: warning: no entry in {} line{} (blank, or not conntrack's): an empty \
             table, or a capture that failed before it wrote anything",
            input.path.display(),
            crate::report::thousands(input.lines),
            if input.lines == 1 { "" } else { "s" },
        );
    } else if input.unusable() {
        let _ = writeln!(err, "{}", no_entry(&input.path, input.errors, input.lines));
    } else if let Some(read) = input.trailer_mismatch() {
        let _ = writeln!(
            err,
            "ctreport: {}: warning: conntrack's trailer says {} {} shown, but the capture \
             holds {}: lines were lost (or added) on the way",
            input.path.display(),
            crate::report::thousands(input.shown),
            if input.shown == 1 {
                "entry was"
            } else {
                "entries were"
            },
            crate::report::thousands(read),
        );
    }
}

/// The error for an input that gave no entry but `errors` malformed
/// lines of `lines`.
pub fn no_entry(path: &std::path::Path, errors: u64, lines: u64) -> String {
    format!(
        "ctreport: {}: error: no conntrack entry read ({} malformed line{} of {}); is it a \
         capture of /proc/net/nf_conntrack or `conntrack -L`?",
        path.display(),
        crate::report::thousands(errors),
        if errors == 1 { "" } else { "s" },
        crate::report::thousands(lines),
    )
}

impl Analysis {
    /// True when some input could not be read to its end.
    pub fn incomplete(&self) -> bool {
        self.inputs.iter().any(|i| i.read_error.is_some())
    }

    /// True when some input gave no entry but malformed lines
    /// ([`InputTotals::unusable`]).
    pub fn unusable(&self) -> bool {
        self.inputs.iter().any(InputTotals::unusable)
    }

    /// An error when the (one) input holds `conntrack -E` events: `doctor`
    /// and `diff` read table listings only. `what` says what the command
    /// does with one (`doctor diagnoses the table itself`).
    pub fn refuse_events(&self, what: &str) -> Result<(), Fatal> {
        // Every event read, those the filters left out too.
        let events: u64 =
            self.summary.events.iter().sum::<u64>() + self.summary.totals.filtered_events;
        if events == 0 {
            return Ok(());
        }
        let path = self.path(0);
        let count = format!(
            "{} conntrack -E event{}",
            crate::report::thousands(events),
            if events == 1 { "" } else { "s" }
        );
        let entries = self.summary.totals.flows.saturating_sub(events);
        if entries == 0 {
            return Err(Fatal::Input(format!(
                "{}: holds {count}, not a table listing: {what}; capture it with \
                 `conntrack -L > dump.txt` or `cat /proc/net/nf_conntrack > dump.txt` (summary \
                 and the other reports do count events)",
                path.display(),
            )));
        }
        // Events pasted into a listing: table lines never hold the tags.
        let stdin = path == std::path::Path::new("<stdin>");
        let (file, rerun) = input::with_stdin(if stdin { "-".as_ref() } else { path });
        let grep = "grep -v -e '\\[NEW\\]' -e '\\[UPDATE\\]' -e '\\[DESTROY\\]'";
        let command = match self.inputs[0].unpack {
            Some(unpack) => format!("{unpack} {file} | {grep} | {rerun}"),
            None => format!("{grep} {file} | {rerun}"),
        };
        Err(Fatal::Input(format!(
            "{}: holds {count} among {} table entries: {what}; leave the events out with \
             `{command}`",
            path.display(),
            crate::report::thousands(entries),
        )))
    }
}
