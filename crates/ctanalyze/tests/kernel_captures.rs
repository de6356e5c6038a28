//! The committed real-kernel captures (`fixtures/kernel/`): every line of
//! every dialect parses, and every count conntrack-tools computed equals
//! the count ctanalyze derives, exactly: protocol, family, state, status,
//! zone, mark, address and NAT counts.

mod support;

use std::path::Path;

#[test]
fn committed_captures_match_the_conntrack_tools_oracle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kernel");
    let namespaces = support::oracle::namespaces(&root);
    assert!(
        namespaces.len() >= 2,
        "no captures under {}",
        root.display()
    );
    let mut total_checks = 0;
    let mut mismatches = Vec::new();
    for dir in &namespaces {
        let (found, checks) = support::oracle::check_namespace(dir);
        assert!(checks > 0, "{}: nothing compared", dir.display());
        total_checks += checks;
        mismatches.extend(found);
    }
    assert!(
        mismatches.is_empty(),
        "{} of {total_checks} checks failed:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
