//! Running a capture script against the live kernel from a test.
//!
//! Kernel tests need root, network namespaces and the tools of
//! `fixtures/capture/packages.txt`. Without them they skip with a loud
//! banner, except under CI (`CI=true`), where a skip is a failure. They
//! never run concurrently (a full table affects every namespace): each holds
//! an exclusive lock on one file in the temp directory for its whole run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A capture made for one test: its output directory (removed however the
/// test ends) and the kernel-test lock, held until it is dropped.
pub struct Capture {
    pub out: PathBuf,
    _lock: File,
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

/// Skips loudly, or fails under CI.
pub fn skip_or_fail(test: &str, reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} cannot run under CI: {reason}");
    }
    let bar = "!".repeat(72);
    // Straight to the stderr stream: the test harness captures `eprintln!`
    // of passing tests, and this must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\nSKIPPED {test}: {reason}\n{bar}\n"
    );
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The kernel-test lock, when this machine can run a kernel test that
/// needs `tools`: root and each of them. `None` after a loud skip (a
/// failure under CI).
pub fn require(test: &str, tools: &[&str]) -> Option<File> {
    if !is_root() {
        skip_or_fail(test, "not running as root");
        return None;
    }
    if let Some(missing) = tools.iter().find(|t| !have(t)) {
        skip_or_fail(
            test,
            &format!("`{missing}` is not installed (see fixtures/capture/packages.txt)"),
        );
        return None;
    }
    let lock = File::create(std::env::temp_dir().join("ctreport-kernel-tests.lock")).unwrap();
    lock.lock().unwrap();
    Some(lock)
}

/// Runs `fixtures/capture/SCRIPT ARGS --out DIR` under the kernel-test lock.
/// `None` (after a loud skip) when this machine cannot run it: not root, a
/// tool missing, or the script's exit code 77; panics on any other failure.
pub fn capture(test: &str, script: &str, args: &[&str], tools: &[&str]) -> Option<Capture> {
    let lock = require(test, tools)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("ctreport-{script}-{}", std::process::id()));
    let capture = Capture { out, _lock: lock };
    let status = Command::new(root.join("fixtures/capture").join(script))
        .args(args)
        .arg("--out")
        .arg(&capture.out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run fixtures/capture/{script}: {e}"));
    match status.code() {
        Some(0) => Some(capture),
        Some(77) => {
            skip_or_fail(
                test,
                &format!("{script} reports that it cannot capture on this machine"),
            );
            None
        }
        _ => panic!("{script} failed: {status}"),
    }
}
