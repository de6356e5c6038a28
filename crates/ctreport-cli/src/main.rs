//! `ctreport`: what fills your Linux conntrack table, from a dump.
#![forbid(unsafe_code)]

/// `eprintln!` that cannot panic: with stderr closed (`ctreport ... 2>&1 |
/// true`) the message is lost, not the run.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod analysis;
mod cli;
mod cmd;
mod exit;
mod input;
mod render;
mod report;

use std::io;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use exit::{Exit, Fatal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A dump rewritten while it is read: a message, not "Bus error".
    if let Err(e) = ctparse::exit_when_mapped_file_shrinks(input::shrunk_line, Exit::Error as u8) {
        say!("ctreport: warning: cannot watch mapped inputs: {e}");
    }
    match run(&cli) {
        Ok(exit) => exit.into(),
        // `ctreport summary dump | head`: a closed pipe is not an error.
        Err(Fatal::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Success.into(),
        Err(Fatal::Output(e)) => {
            say!("ctreport: cannot write output: {}", input::describe(&e));
            Exit::Error.into()
        }
        Err(Fatal::Input(message)) => {
            say!("ctreport: {message}");
            Exit::Error.into()
        }
        Err(Fatal::Usage(message)) => {
            say!("ctreport: {message}");
            Exit::Error.into()
        }
    }
}

fn run(cli: &Cli) -> Result<Exit, Fatal> {
    match &cli.command {
        Command::Summary(args) => cmd::summary::run(args),
        Command::TopIps(args) => cmd::top_ips::run(args),
        Command::Protocols(args) => cmd::protocols::run(args),
        Command::States(args) => cmd::states::run(args),
        Command::TopPorts(args) => cmd::top_ports::run(args),
        Command::Dnat(args) => cmd::dnat::run(args),
        Command::Snat(args) => cmd::snat::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Flows(args) => cmd::flows::run(args),
        Command::Doctor(args) => cmd::doctor::run(args),
        Command::Diff(args) => cmd::diff::run(args),
    }
}
