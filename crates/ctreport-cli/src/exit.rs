//! Exit codes and fatal errors.

use std::process::ExitCode;

/// How `ctreport` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The report was produced (malformed lines, if any, were reported on
    /// stderr and counted in the report).
    Success = 0,
    /// `check` found malformed lines, or `--strict` was given and some
    /// line was malformed.
    Malformed = 1,
    /// An input could not be opened, could not be read to its end (the
    /// report, if printed, is of what was read before), or gave no entry
    /// but malformed lines; `doctor` was given a `conntrack -E` capture or
    /// a side input with nothing usable; or the command line is wrong.
    Error = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error that stops the run.
#[derive(Debug)]
pub enum Fatal {
    /// An input could not be opened or read: `path: reason`.
    Input(String),
    /// A bad option value found after clap's checks.
    Usage(String),
    /// Writing the report failed (other than a closed pipe).
    Output(std::io::Error),
}

impl From<std::io::Error> for Fatal {
    fn from(e: std::io::Error) -> Fatal {
        Fatal::Output(e)
    }
}

impl From<csv::Error> for Fatal {
    fn from(e: csv::Error) -> Fatal {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Fatal::Output(io),
            other => Fatal::Output(std::io::Error::other(format!("{other:?}"))),
        }
    }
}

impl From<serde_json::Error> for Fatal {
    fn from(e: serde_json::Error) -> Fatal {
        Fatal::Output(e.into())
    }
}
