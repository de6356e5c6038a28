//! Network namespaces a kernel test makes for itself.

use std::process::{Child, Command, Output, Stdio};

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

/// Namespace names of this process, `{prefix}-{role}-{pid}`, one a role.
fn names<const N: usize>(prefix: &str, roles: [&str; N]) -> [String; N] {
    let id = std::process::id();
    roles.map(|role| format!("{prefix}-{role}-{id}"))
}

/// Joins two namespaces with a veth pair; each end `(namespace, device,
/// address/prefix)` gets its address and is brought up.
fn link(ends: [(&str, &str, &str); 2]) {
    let [(a, a_dev, _), (b, b_dev, _)] = ends;
    run(&[
        "ip", "-n", a, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b,
    ]);
    for (name, dev, addr) in ends {
        run(&["ip", "-n", name, "addr", "add", addr, "dev", dev]);
        run(&["ip", "-n", name, "link", "set", dev, "up"]);
    }
}

/// Two namespaces joined by a veth pair: `client` with 192.0.2.1/24 on
/// `veth0`, `server` with 192.0.2.2/24 on `veth1`; deleted on drop.
pub struct Pair {
    pub client: String,
    pub server: String,
    _made: Made,
}

impl Pair {
    /// The pair, named `{prefix}-a-{pid}` and `{prefix}-b-{pid}`.
    pub fn new(prefix: &str) -> Pair {
        let [client, server] = names(prefix, ["a", "b"]);
        let pair = Pair {
            _made: Made::new(&[&client, &server]),
            client,
            server,
        };
        link([
            (&pair.client, "veth0", "192.0.2.1/24"),
            (&pair.server, "veth1", "192.0.2.2/24"),
        ]);
        pair
    }
}

/// Three namespaces in a line, deleted on drop: `client` (192.0.2.1/24 on
/// `vc`, its default route via the router), `router` (192.0.2.254/24 on
/// `vrc`, 198.51.100.1/24 on `vrs`, forwarding) and `server`
/// (198.51.100.2/24 on `vs`, its default route via the router).
pub struct Routed {
    pub client: String,
    pub router: String,
    pub server: String,
    _made: Made,
}

impl Routed {
    /// The three, named `{prefix}-c-{pid}`, `{prefix}-r-{pid}` and
    /// `{prefix}-s-{pid}`.
    pub fn new(prefix: &str) -> Routed {
        let [client, router, server] = names(prefix, ["c", "r", "s"]);
        let ns = Routed {
            _made: Made::new(&[&client, &router, &server]),
            client,
            router,
            server,
        };
        link([
            (&ns.client, "vc", "192.0.2.1/24"),
            (&ns.router, "vrc", "192.0.2.254/24"),
        ]);
        link([
            (&ns.router, "vrs", "198.51.100.1/24"),
            (&ns.server, "vs", "198.51.100.2/24"),
        ]);
        for (name, via) in [(&ns.client, "192.0.2.254"), (&ns.server, "198.51.100.1")] {
            run(&["ip", "-n", name, "route", "add", "default", "via", via]);
        }
        // The router's own namespace only.
        ok(&ns.router, "sysctl -qw net.ipv4.ip_forward=1");
        ns
    }
}

/// A process in a namespace, in the background, ended by its pid on
/// drop: `ip netns exec` execs it, so the pid is the process's own (a
/// wrapper such as `timeout` would be killed in its place and leave it
/// running).
pub struct Background(Child);

impl Background {
    /// `python3 -c script` in namespace `name`; its standard input and
    /// output go nowhere (a test harness waits for whoever holds them).
    pub fn python(name: &str, script: &str) -> Background {
        let child = Command::new("ip")
            .args(["netns", "exec", name, "python3", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Background(child)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
