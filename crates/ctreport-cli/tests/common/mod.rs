//! Helpers shared by the CLI test binaries: running the real `ctreport`
//! from the repository root, scratch directories, and golden files.
//!
//! Regenerate golden files after an intended output change with
//! `UPDATE_GOLDEN=1 cargo test -p ctreport-cli`, and review the diff.
#![allow(dead_code)] // each test binary uses part of it

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (where the fixtures are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `ctreport ARGS` in the repository root.
pub fn ctreport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctreport"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// Runs `ctreport ARGS` with `input` on stdin.
pub fn ctreport_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ctreport"));
    command.args(args).current_dir(root());
    output_with_stdin(command, input)
}

/// The output of `command`, with `input` on its stdin.
pub fn output_with_stdin(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Runs `ctreport ARGS`, which must succeed with nothing on stderr, and
/// returns its output.
pub fn ok(argv: &[&str]) -> String {
    let out = ctreport(argv);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{argv:?}: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "", "{argv:?}");
    text(&out.stdout)
}

/// [`ok`], its output read as JSON.
pub fn json(argv: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(argv)).unwrap()
}

/// `1,585` for 1585, as the reports print counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Output as text (it must be UTF-8).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Compares `actual` with `tests/golden/NAME`, or writes it there when
/// `UPDATE_GOLDEN` is set.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}

/// A directory of one test's own (`ctreport-NAME-PID` in the temporary
/// directory), emptied when made and removed when dropped, also when the
/// test fails. It derefs to its path.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes the directory for the test called `name`.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ctreport-{name}-{}", std::process::id()));
        // Left over by a killed run of the same pid: start empty.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
