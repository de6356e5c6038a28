//! The live conformance test: capture a fresh table from the running
//! kernel (`fixtures/capture/capture.sh --scale 20000`, in network
//! namespaces of its own) and check it against conntrack-tools.
//!
//! Needs root, network namespaces, conntrack-tools and nftables. Without
//! them it skips with a loud message, except under CI (`CI=true`), where a
//! skip is a failure. Kernel tests never run concurrently: they hold an
//! exclusive lock on a file in the temp directory for their whole run.

mod support;

#[test]
fn live_capture_matches_the_conntrack_tools_oracle() {
    let Some(capture) = support::kernel::capture(
        "live kernel conntrack test",
        "capture.sh",
        &["--scale", "20000"],
        &["conntrack", "nft", "ip", "python3"],
    ) else {
        return;
    };
    let out = &capture.out;
    let namespaces = support::oracle::namespaces(out);
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
