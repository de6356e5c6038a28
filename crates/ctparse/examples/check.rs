//! Parses the files named on the command line and prints every error:
//! `cargo run -p ctparse --example check -- dump.txt`.

use std::path::Path;

fn main() {
    let mut failed = false;
    for path in std::env::args_os().skip(1) {
        let path = Path::new(&path);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let mut parser = ctparse::Parser::new(&bytes);
        for result in parser.by_ref() {
            if let Err(e) = result {
                println!("{}", e.display_in(path));
                failed = true;
            }
        }
        let s = parser.stats();
        println!(
            "{}: {} lines, {} flows, {} skipped, {} errors",
            path.display(),
            s.lines,
            s.flows,
            s.skipped,
            s.errors
        );
    }
    std::process::exit(i32::from(failed));
}
