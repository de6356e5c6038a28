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
    /// The input ends without a line end after an entry: the entry that
    /// last line holds may have been cut short.
    pub unterminated_entry: bool,
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
    /// Also shows every input's bytes to this, as they are read.
    pub tap: Option<Arc<dyn Tap>>,
    /// The keyed aggregates the command shows; the others are not computed.
    pub aggregates: Aggregates,
}

/// Sees the bytes of every input as the analyzer reads them, for counts
/// the analyzer does not make, without reading an input twice (stdin and
/// `/proc` cannot be).
pub trait Tap: Send + Sync {
    /// The whole of input `input` at once (a mapped file).
    fn whole(&self, input: usize, bytes: &[u8]);
    /// The next piece of streamed input `input`, cut anywhere.
    fn piece(&self, input: usize, bytes: &[u8]);
}

/// A reader that shows what it reads to a [`Tap`].
struct Tapped {
    inner: Box<dyn Read + Send>,
    tap: Arc<dyn Tap>,
    input: usize,
}

impl Read for Tapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.tap.piece(self.input, &buf[..n]);
        }
        Ok(n)
    }
}

/// Shows `source` to `tap` as input `input`: a mapped file at once, a
/// stream as it is read.
fn tapped(source: Source, input: usize, tap: Arc<dyn Tap>) -> Source {
    match source {
        Source::Mapped(map) => {
            tap.whole(input, &map);
            Source::Mapped(map)
        }
        Source::Stream(stream) => Source::from_reader(Tapped {
            inner: stream.0,
            tap,
            input,
        }),
    }
}

/// A [`Tap`] on one input that keeps the bytes after the last line end
/// seen so far: the last line, once the input is read, when the input
/// does not end with a line end. Bounded: a longer last line is not kept
/// (and not judged).
#[derive(Debug, Default)]
struct LastLine(Mutex<Tail>);

#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    too_long: bool,
}

impl LastLine {
    const MAX: usize = 1 << 16;

    fn tail(&self) -> MutexGuard<'_, Tail> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, bytes: &[u8]) {
        let mut tail = self.tail();
        let rest = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(at) => {
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

    /// True when the input ended without a line end after an entry.
    fn is_entry(&self) -> bool {
        let tail = self.tail();
        !tail.too_long
            && !tail.bytes.is_empty()
            && matches!(ctparse::parse_line(&tail.bytes), Ok(ctparse::Line::Flow(_)))
    }
}

impl Tap for LastLine {
    fn whole(&self, _input: usize, bytes: &[u8]) {
        self.add(bytes);
    }

    fn piece(&self, _input: usize, bytes: &[u8]) {
        self.add(bytes);
    }
}

/// Analyzes every input; a file that cannot be opened or read is fatal.
pub fn run(pass: Pass<'_>) -> Result<Analysis, Fatal> {
    let analyzer = Analyzer::new()
        .threads(pass.threads)
        .max_errors(pass.keep_errors)
        .filter(pass.filter)
        .aggregates(pass.aggregates);
    let mut inputs = Vec::new();
    let mut summary = Summary::with_error_limit(pass.keep_errors);
    let names = input::names(pass.files);
    warn_repeated_inputs(&names);
    for (index, name) in names.iter().enumerate() {
        let mut opened = input::open(name).map_err(Fatal::Input)?;
        let last_line = Arc::new(LastLine::default());
        opened.source = tapped(opened.source, index, last_line.clone());
        if let Some(tap) = &pass.tap {
            opened.source = tapped(opened.source, index, Arc::clone(tap));
        }
        let bar = input::progress_bar(&opened, pass.quiet);
        let analyzer = match &bar {
            Some(bar) => analyzer.clone().progress(input::progress_callback(bar)),
            None => analyzer.clone(),
        };
        let part = analyzer.analyze_source(index, opened.source).map_err(|e| {
            Fatal::Input(format!(
                "{}: {}",
                opened.name.display(),
                input::describe(&e)
            ))
        })?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let t = &part.totals;
        inputs.push(InputTotals {
            path: opened.name,
            bytes: t.bytes,
            lines: t.lines,
            flows: t.flows,
            skipped: t.skipped,
            errors: t.errors,
            unterminated_entry: last_line.is_entry(),
        });
        summary.merge(part);
    }
    Ok(Analysis { inputs, summary })
}

/// Says so when one file (or stdin) is given more than once: its entries
/// would be counted once for each time.
fn warn_repeated_inputs(names: &[PathBuf]) {
    let mut seen: Vec<PathBuf> = Vec::new();
    for name in names {
        let same = if name.as_os_str() == "-" {
            name.clone()
        } else {
            std::fs::canonicalize(name).unwrap_or_else(|_| name.clone())
        };
        if seen.contains(&same) {
            eprintln!(
                "ctreport: warning: {} is given more than once: its entries are counted each time",
                name.display()
            );
        } else {
            seen.push(same);
        }
    }
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
            total - shown,
            if total - shown == 1 { "" } else { "s" }
        );
    }
    warn_about_inputs(analysis, &mut err);
}

/// Says so when an input ends in an entry without a line end (a capture
/// cut short may end in a partial entry that still reads as one), and when
/// an input gave no entry at all but malformed lines (the wrong file,
/// garbage, a failed capture): its report would otherwise be empty
/// sections that look like an empty table.
pub fn warn_about_inputs(analysis: &Analysis, err: &mut impl Write) {
    for input in &analysis.inputs {
        if input.unterminated_entry {
            let _ = writeln!(
                err,
                "ctreport: {}:{}: warning: the input ends in this entry without a line end: if the \
                 capture was cut short, the entry is incomplete (it is counted as it reads)",
                input.path.display(),
                input.lines,
            );
        }
        if input.flows == 0 && input.errors > 0 {
            let _ = writeln!(
                err,
                "ctreport: {}: no conntrack entry read ({} malformed line{} of {}); is it a \
                 capture of /proc/net/nf_conntrack or `conntrack -L`?",
                input.path.display(),
                crate::report::thousands(input.errors),
                if input.errors == 1 { "" } else { "s" },
                crate::report::thousands(input.lines),
            );
        }
    }
}
