//! `release_pages` really gives back the page mappings of what was read
//! (Linux: the mapping's resident size in `/proc/self/smaps` falls), and
//! the bytes read afterwards are the same.

#![cfg(target_os = "linux")]

use std::path::Path;

use ctparse::{Parser, Source, release_pages};

/// Resident kilobytes of this process's mapping of `path`.
fn resident_kb(path: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
    let name = path.to_str().expect("a UTF-8 temporary path");
    let mut in_mapping = false;
    for line in smaps.lines() {
        // A mapping's header: `start-end perms offset dev inode   path`.
        let header = line
            .split_whitespace()
            .next()
            .and_then(|f| f.split_once('-'))
            .is_some_and(|(start, end)| {
                u64::from_str_radix(start, 16).is_ok() && u64::from_str_radix(end, 16).is_ok()
            });
        if header {
            in_mapping = line.ends_with(name);
        } else if in_mapping && let Some(rest) = line.strip_prefix("Rss:") {
            return rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .expect("Rss in kB");
        }
    }
    panic!("no mapping of {} in /proc/self/smaps", path.display());
}

#[test]
fn released_pages_leave_the_mapping_and_read_back_the_same() {
    let dir = std::env::temp_dir().join(format!("ctparse-release-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dump.txt");
    let line = b"ipv4     2 tcp      6 117 TIME_WAIT src=192.0.2.1 dst=198.51.100.7 \
                 sport=40000 dport=443 src=198.51.100.7 dst=192.0.2.1 sport=443 \
                 dport=40000 [ASSURED] mark=0 zone=0 use=2\n";
    // 8 MiB or so: many 64 KiB blocks.
    let lines = (8 << 20) / line.len();
    std::fs::write(&path, line.repeat(lines)).unwrap();

    let source = Source::open(&path).unwrap();
    let Source::Mapped(map) = &source else {
        panic!("a regular file is mapped");
    };
    let bytes: &[u8] = map;
    let flows = |bytes: &[u8]| Parser::new(bytes).filter(Result::is_ok).count();
    assert_eq!(flows(bytes), lines);
    let touched = resident_kb(&path);
    assert!(
        touched >= 7 << 10,
        "every page read is mapped: {touched} kB"
    );

    // The first half, read again from another slice of the same map.
    let half = &bytes[..bytes.len() / 2];
    release_pages(map, half);
    let released = resident_kb(&path);
    assert!(
        released <= touched / 2 + 128,
        "half released: {touched} kB before, {released} kB after"
    );
    release_pages(map, bytes);
    let all = resident_kb(&path);
    assert!(
        all <= 128,
        "all released but the last partial block: {all} kB"
    );

    // Read again, the same flows.
    assert_eq!(flows(bytes), lines);
    assert_eq!(&bytes[..line.len()], line);
    assert!(resident_kb(&path) >= 7 << 10, "read again, mapped again");

    // A slice that is not the map's releases nothing.
    let other = line.repeat(1000);
    release_pages(map, &other);
    assert!(resident_kb(&path) >= 7 << 10);
    drop(source);
    std::fs::remove_dir_all(&dir).unwrap();
}
