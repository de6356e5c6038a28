//! The live conformance test: capture a fresh table from the running
//! kernel (`fixtures/capture/capture.sh --scale 20000`, in network
//! namespaces of its own) and check it against conntrack-tools.
//!
//! Needs root, network namespaces, conntrack-tools and nftables. Without
//! them it skips with a loud message, except under CI (`CI=true`), where a
//! skip is a failure. Kernel tests never run concurrently: they hold an
//! exclusive lock on a file in the temp directory for their whole run.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::Command;

fn skip_or_fail(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("live kernel test cannot run under CI: {reason}");
    }
    eprintln!(
        "\n{}\nSKIPPED live kernel conntrack test: {reason}\n{}\n",
        "!".repeat(72),
        "!".repeat(72)
    );
}

/// Removes the capture directory however the test ends.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn live_capture_matches_the_conntrack_tools_oracle() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.ok().as_deref() != Some("0") {
        return skip_or_fail("not running as root");
    }
    for program in ["conntrack", "nft", "ip"] {
        if !have(program) {
            return skip_or_fail(&format!(
                "`{program}` is not installed (see fixtures/capture/packages.txt)"
            ));
        }
    }
    let lock = File::create(std::env::temp_dir().join("ctreport-kernel-tests.lock")).unwrap();
    lock.lock().unwrap();

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("ctreport-live-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(out.clone());
    let status = Command::new(root.join("fixtures/capture/capture.sh"))
        .args(["--scale", "20000", "--out"])
        .arg(&out)
        .status()
        .expect("cannot run fixtures/capture/capture.sh");
    if !status.success() {
        if status.code() == Some(77) {
            return skip_or_fail(
                "capture.sh reports that network namespaces or conntrack are unavailable",
            );
        }
        panic!("capture.sh failed: {status}");
    }
    let namespaces = support::oracle::namespaces(&out);
    let mut mismatches = Vec::new();
    let mut flows = 0u64;
    for dir in &namespaces {
        let (found, checks) = support::oracle::check_namespace(dir);
        assert!(checks > 0, "{}: nothing compared", dir.display());
        mismatches.extend(found);
        flows += support::oracle::read_oracle(dir)["-L"];
    }
    assert!(
        namespaces.len() >= 2,
        "capture produced {} namespaces",
        namespaces.len()
    );
    assert!(
        flows >= 20_000,
        "the scaled capture holds only {flows} flows"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    eprintln!(
        "live kernel test: {} namespaces, {flows} flows, all oracle counts matched",
        namespaces.len()
    );
}
