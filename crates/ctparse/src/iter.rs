//! The iterator over a buffer of lines.

use crate::error::{ErrorKind, ParseError};
use crate::flow::Flow;
use crate::line::{Line, SkipReason, parse_general, parse_numbered};

/// Line counts of one pass over a buffer.
///
/// `lines == flows + skipped + errors` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseStats {
    /// Lines read (a final line without `\n` counts).
    pub lines: u64,
    /// Lines that parsed as flows.
    pub flows: u64,
    /// Blank lines and conntrack-tools messages (see [`crate::SkipReason`]).
    pub skipped: u64,
    /// Malformed lines.
    pub errors: u64,
    /// The malformed lines that are conntrack-tools' own failure messages
    /// ([`ErrorKind::ToolFailure`]): among
    /// `errors`, but not table entries.
    pub failures: u64,
    /// conntrack-tools trailers among the skipped lines
    /// ([`SkipReason::Trailer`]).
    pub trailers: u64,
    /// The entries (or events) the trailers say were printed, summed.
    pub shown: u64,
}

/// An iterator over the flows of a buffer of dump lines, yielding
/// `Result<Flow<'a>, ParseError>`: `'a` is the buffer's lifetime.
///
/// Blank lines and conntrack-tools messages are skipped and counted in
/// [`stats`](Parser::stats). A malformed line yields its error and the
/// iterator moves on, so a caller that skips errors still reaches the end.
///
/// ```
/// let dump = b"ipv4     2 tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.2 \
/// sport=40000 dport=443 src=198.51.100.2 dst=192.0.2.1 sport=443 dport=40000 [ASSURED] mark=0 zone=0 use=2
/// garbage
/// conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.
/// ";
/// let mut parser = ctparse::Parser::new(dump);
/// let results: Vec<_> = parser.by_ref().collect();
/// assert!(results[0].is_ok());
/// assert_eq!(results[1].as_ref().unwrap_err().line, 2);
/// assert_eq!(parser.stats().skipped, 1);
/// ```
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
    stats: ParseStats,
}

impl<'a> Parser<'a> {
    /// A parser over `buf`, numbering lines from 1.
    pub fn new(buf: &'a [u8]) -> Parser<'a> {
        Parser::starting_at_line(buf, 1)
    }

    /// A parser over `buf` whose first line is line `first_line` (for a chunk
    /// cut out of a larger dump).
    pub fn starting_at_line(buf: &'a [u8], first_line: u64) -> Parser<'a> {
        Parser {
            buf,
            pos: 0,
            line: first_line.saturating_sub(1),
            stats: ParseStats::default(),
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> ParseStats {
        self.stats
    }

    /// The number of the line most recently read (0 before the first).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Calls `f` with each item the iterator would yield, in the same
    /// order, with the same counts: the internal form of the iterator.
    /// A flow is lent to `f` where it was parsed instead of being moved
    /// out through [`next`](Iterator::next) (a flow is some 400 bytes),
    /// which makes a full pass measurably cheaper.
    ///
    /// One difference: an entry that conntrack-tools' stderr was spliced
    /// into (`conntrack -L 2>&1`, see [`ErrorKind::SplicedToolMessage`])
    /// is mended when its rest is on the next line of the buffer: `f`
    /// gets the whole entry, and the message counts as the skipped line
    /// it is (a trailer's count too). The iterator yields the two halves
    /// as errors: its flows borrow from the buffer, and the mended entry
    /// is in neither line. So `f` may not keep what a flow borrows.
    ///
    /// ```
    /// let dump = b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53 src=198.51.100.2 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=2
    /// udp      17 29 src=192.0.2.3 dst=198.51.100.2 sport=53conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.
    /// 53 dport=53 src=198.51.100.2 dst=192.0.2.3 sport=53 dport=5353 mark=0 use=2
    /// ";
    /// let mut ports = Vec::new();
    /// let mut parser = ctparse::Parser::new(dump);
    /// parser.for_each_ref(|item| ports.push(item.unwrap().orig.l4.src_port()));
    /// assert_eq!(ports, [Some(5353), Some(5353)]);
    /// let stats = parser.stats();
    /// assert_eq!((stats.lines, stats.flows, stats.skipped, stats.shown), (3, 2, 1, 2));
    /// // The iterator names the two halves.
    /// assert_eq!(ctparse::Parser::new(dump).filter(Result::is_err).count(), 2);
    /// ```
    ///
    /// ```
    /// let dump = b"udp      17 29 src=192.0.2.1 dst=198.51.100.2 sport=5353 dport=53 [UNREPLIED] \
    /// src=198.51.100.2 dst=192.0.2.1 sport=53 dport=5353 mark=0 use=2
    /// garbage
    /// ";
    /// let (mut flows, mut errors) = (0, 0);
    /// let mut parser = ctparse::Parser::new(dump);
    /// parser.for_each_ref(|item| match item {
    ///     Ok(flow) => flows += usize::from(flow.orig.l4.dst_port() == Some(53)),
    ///     Err(error) => errors += error.line,
    /// });
    /// assert_eq!((flows, errors), (1, 2));
    /// assert_eq!(parser.stats().lines, 2);
    /// ```
    #[inline]
    pub fn for_each_ref(&mut self, mut f: impl FnMut(Result<&Flow<'_>, ParseError>)) {
        let mut slot = crate::fast::blank();
        // Lines with an event tag or an id (`conntrack -E`, `-o id`) are
        // read into a flow of their own: the plain reader never resets them.
        // That reader takes every line the plain one does, so once a line
        // needs it, it reads on until a line fails it too (a capture is
        // printed one way throughout).
        let mut extras = crate::fast::blank();
        loop {
            while let Some(next) = crate::fast::read_line::<false>(&self.buf[self.pos..], &mut slot)
            {
                self.advance_fast(next);
                f(Ok(&slot));
            }
            while let Some(next) =
                crate::fast::read_line::<true>(&self.buf[self.pos..], &mut extras)
            {
                self.advance_fast(next);
                f(Ok(&extras));
            }
            let Some((line, parsed)) = self.take_general() else {
                return;
            };
            if let Err(error) = &parsed
                && error.kind == ErrorKind::SplicedToolMessage
                && self.mend(line, error.column - 1, &mut f)
            {
                continue;
            }
            self.count(&parsed);
            match parsed {
                Ok(Line::Flow(flow)) => f(Ok(&flow)),
                Ok(Line::Skipped(_)) => {}
                Err(error) => f(Err(error)),
            }
        }
    }

    /// Mends the entry of `line`, just taken, into which a conntrack-tools
    /// message was spliced at `at`: the entry's start, then the next line
    /// (its rest). When the message is one that is skipped (not a
    /// failure) and the two parts make an entry, `f` gets it, both lines
    /// are counted (the message's as skipped) and true is returned; else
    /// nothing is consumed or counted.
    #[cold]
    fn mend(
        &mut self,
        line: &'a [u8],
        at: usize,
        f: &mut impl FnMut(Result<&Flow<'_>, ParseError>),
    ) -> bool {
        let Ok(message @ Line::Skipped(_)) = parse_general(&line[at..], self.line) else {
            return false;
        };
        let Some((next, _)) = self.peek_line() else {
            return false;
        };
        let next = next.strip_suffix(b"\r").unwrap_or(next);
        if at + next.len() > crate::MAX_LINE {
            // Too long to be an entry: no need to copy it to find out.
            return false;
        }
        let mut joined = Vec::with_capacity(at + next.len());
        joined.extend_from_slice(&line[..at]);
        joined.extend_from_slice(next);
        let Ok(Line::Flow(flow)) = parse_numbered(&joined, self.line + 1) else {
            return false;
        };
        self.count(&Ok(message));
        self.take_line();
        self.stats.flows += 1;
        f(Ok(&flow));
        true
    }

    /// The next line's flow if the fast path reads it, counted; `None`,
    /// with nothing consumed, otherwise. The fast path finds the line end
    /// itself, and the flow needs no `Line` wrapping.
    #[inline(always)]
    fn next_fast(&mut self) -> Option<Flow<'a>> {
        let (flow, next) = crate::fast::parse_first_line(&self.buf[self.pos..])?;
        self.advance_fast(next);
        Some(flow)
    }

    /// Counts a line the fast path read, and moves to the next one.
    #[inline(always)]
    fn advance_fast(&mut self, next: usize) {
        self.pos += next;
        self.line = self.line.saturating_add(1);
        self.stats.lines += 1;
        self.stats.flows += 1;
    }

    /// The next line through the general parser, counted.
    fn next_general(&mut self) -> Option<Result<Line<'a>, ParseError>> {
        let (_, parsed) = self.take_general()?;
        self.count(&parsed);
        Some(parsed)
    }

    /// The next line (without its `\r`) and what the general parser makes
    /// of it; the line is counted, not what it is.
    fn take_general(&mut self) -> Option<(&'a [u8], Result<Line<'a>, ParseError>)> {
        let line = self.take_line()?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some((line, parse_general(line, self.line)))
    }

    /// The next line, whatever it is, with its number: the raw form of the
    /// iterator for callers that want skipped lines too.
    pub fn next_line(&mut self) -> Option<(u64, Result<Line<'a>, ParseError>)> {
        let line = self.take_line()?;
        let parsed = parse_numbered(line, self.line);
        self.count(&parsed);
        Some((self.line, parsed))
    }

    /// The next line, without its terminator, and the bytes it takes
    /// with it; nothing is consumed.
    #[inline]
    fn peek_line(&self) -> Option<(&'a [u8], usize)> {
        let rest = self.buf.get(self.pos..).filter(|rest| !rest.is_empty())?;
        Some(match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], end + 1),
            None => (rest, rest.len()),
        })
    }

    /// The next line, without its terminator, counted.
    #[inline]
    fn take_line(&mut self) -> Option<&'a [u8]> {
        let (line, advance) = self.peek_line()?;
        // Advance before parsing: an error never leaves the iterator stuck.
        self.pos += advance;
        self.line = self.line.saturating_add(1);
        self.stats.lines += 1;
        Some(line)
    }

    fn count(&mut self, parsed: &Result<Line<'a>, ParseError>) {
        match parsed {
            Ok(Line::Flow(_)) => self.stats.flows += 1,
            Ok(Line::Skipped(reason)) => {
                self.stats.skipped += 1;
                if let SkipReason::Trailer(shown) = reason {
                    self.stats.trailers += 1;
                    self.stats.shown = self.stats.shown.saturating_add(*shown);
                }
            }
            Err(error) => {
                self.stats.errors += 1;
                if error.kind == ErrorKind::ToolFailure {
                    self.stats.failures += 1;
                }
            }
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Flow<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(flow) = self.next_fast() {
                return Some(Ok(flow));
            }
            match self.next_general()? {
                Ok(Line::Flow(flow)) => return Some(Ok(flow)),
                Ok(Line::Skipped(_)) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

impl std::iter::FusedIterator for Parser<'_> {}
