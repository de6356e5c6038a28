//! The fast path on real and hand-written lines: wherever it reads a line,
//! the general parser reads the same flow, and it reads every line of a
//! real capture that is in its layout. (The property tests in
//! `roundtrip.rs` check the same on generated and mutated lines.)

use std::path::{Path, PathBuf};

use ctparse::Line;
use ctparse::testing::{fast_path, general_parser, in_fast_layout};

fn fixture_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fixture_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "txt") {
            out.push(path);
        }
    }
}

/// For one file: (lines the fast path read, flows in its layout, flows).
fn check_file(path: &Path) -> (usize, usize, usize) {
    let bytes = std::fs::read(path).unwrap();
    let (mut fast_lines, mut in_layout, mut flows) = (0, 0, 0);
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let here = || format!("{}:{}", path.display(), index + 1);
        let general = general_parser(line);
        let fast = fast_path(line);
        if let Some(fast) = &fast {
            fast_lines += 1;
            match &general {
                Ok(Line::Flow(flow)) => assert_eq!(fast, flow, "{}", here()),
                other => panic!(
                    "{}: fast path read a line the general parser gives {other:?}",
                    here()
                ),
            }
        }
        flows += usize::from(matches!(general, Ok(Line::Flow(_))));
        if let Ok(Line::Flow(flow)) = &general
            && in_fast_layout(flow)
        {
            in_layout += 1;
            // Canonical spacing: single spaces after the padded columns.
            let canonical = !line.contains(&b'\t') && !line.ends_with(b"  ");
            assert!(
                fast.is_some() || !canonical,
                "{}: in the fast layout but not read by the fast path",
                here()
            );
        }
    }
    (fast_lines, in_layout, flows)
}

#[test]
fn fast_path_agrees_with_the_general_parser_on_every_fixture_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    fixture_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "fixtures not found under {}",
        root.display()
    );
    let mut kernel_fast = 0;
    for path in &files {
        let (fast_lines, in_layout, flows) = check_file(path);
        let name = path.file_name().unwrap().to_string_lossy();
        let is_capture = (path.components().any(|c| c.as_os_str() == "kernel")
            && (name == "proc.txt" || name == "conntrack-L.txt"))
            || name == "nf_conntrack.txt";
        if is_capture {
            // Real table listings are mostly TCP, UDP and ICMP entries.
            assert!(
                in_layout * 2 > flows && fast_lines == in_layout,
                "{}: {flows} flows, {in_layout} in the fast layout, {fast_lines} read by it",
                path.display()
            );
            kernel_fast += fast_lines;
        }
    }
    assert!(
        kernel_fast > 1000,
        "only {kernel_fast} capture lines took the fast path"
    );
}
