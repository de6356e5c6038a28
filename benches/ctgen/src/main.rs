//! `ctgen`: writes a large, realistic, deterministic conntrack dump to stdout.
//!
//! ```text
//! ctgen [--flows N] [--seed S] [--dialect proc|conntrack|extended] [--malformed-every N] [--clients N] [--syn-flood]
//! ```

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use ctparse::Dialect;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ctgen: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = ctgen::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--flows" => options.flows = number(&value("--flows")?)?,
            "--seed" => options.seed = number(&value("--seed")?)?,
            "--malformed-every" => options.malformed_every = number(&value("--malformed-every")?)?,
            "--clients" => options.clients = number(&value("--clients")?)?,
            "--syn-flood" => options.syn_flood = true,
            "--dialect" => {
                options.dialect = match value("--dialect")?.as_str() {
                    "proc" => Dialect::Proc,
                    "conntrack" => Dialect::Conntrack,
                    "extended" => Dialect::ConntrackExtended,
                    other => {
                        return Err(format!(
                            "unknown dialect {other:?} (proc, conntrack, extended)"
                        ));
                    }
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: ctgen [--flows N] [--seed S] [--dialect proc|conntrack|extended] \
                     [--malformed-every N] [--clients N] [--syn-flood]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 20, stdout);
    let written = ctgen::generate(&mut out, &options).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    eprintln!(
        "ctgen: {} flows, {} malformed lines, {} bytes",
        written.flows, written.malformed, written.bytes
    );
    Ok(())
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}
