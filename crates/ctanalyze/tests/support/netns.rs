//! Network namespaces a kernel test makes for itself.

use std::process::{Command, Output};

/// Runs `argv`, which must succeed.
pub fn run(argv: &[&str]) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sh -c script` inside namespace `name`.
pub fn sh(name: &str, script: &str) -> Output {
    Command::new("ip")
        .args(["netns", "exec", name, "sh", "-c", script])
        .output()
        .unwrap()
}

/// [`sh`], which must succeed; its standard output.
pub fn ok(name: &str, script: &str) -> Vec<u8> {
    let out = sh(name, script);
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Namespaces made with their loopback up, deleted on drop (however the
/// test ends).
pub struct Made(Vec<String>);

impl Made {
    /// Makes `names`.
    pub fn new(names: &[&String]) -> Made {
        let mut made = Made(Vec::new());
        for name in names {
            run(&["ip", "netns", "add", name]);
            made.0.push((*name).clone());
            run(&["ip", "-n", name, "link", "set", "lo", "up"]);
        }
        made
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}
