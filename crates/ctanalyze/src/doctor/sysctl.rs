//! The conntrack sysctls, read from the text people capture them as.

use std::collections::BTreeMap;

use super::InputError;
use super::text::{Lines, parse_decimal, trim};

/// The `nf_conntrack_*` settings of a host (or network namespace), by their
/// short name (`nf_conntrack_max`, `nf_conntrack_tcp_timeout_time_wait`).
///
/// Read from any of the forms people capture them in, one setting a line:
///
/// - `sysctl -a | grep conntrack`: `net.netfilter.nf_conntrack_max = 262144`
/// - `sysctl -n`-less one-liners and `sysctl.conf`: `net.netfilter.nf_conntrack_max=262144`
/// - `grep -r . /proc/sys/net/netfilter/`: `/proc/sys/net/netfilter/nf_conntrack_max:262144`
///
/// The legacy alias `net.nf_conntrack_max` is the same setting. Keys other
/// than `nf_conntrack_*` (a whole `sysctl -a`) are ignored, as are blank
/// lines, `#`/`;` comments and `sysctl:` messages.
///
/// ```
/// use ctanalyze::doctor::Sysctl;
/// let text = b"net.netfilter.nf_conntrack_max = 262144\n\
/// /proc/sys/net/netfilter/nf_conntrack_buckets:65536\n\
/// kernel.hostname = router\n";
/// let (sysctl, errors) = Sysctl::parse(text);
/// assert!(errors.is_empty());
/// assert_eq!(sysctl.get("nf_conntrack_max"), Some(262144));
/// assert_eq!(sysctl.get("nf_conntrack_buckets"), Some(65536));
/// assert_eq!(sysctl.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctl {
    values: BTreeMap<String, u64>,
    conflicts: Vec<InputError>,
}

impl Sysctl {
    /// Parses `text`; a malformed line is reported and skipped, never fatal.
    pub fn parse(text: &[u8]) -> (Sysctl, Vec<InputError>) {
        let mut sysctl = Sysctl::default();
        let mut errors = Vec::new();
        // Where each setting was read: a second value contradicts it.
        let mut read_at: BTreeMap<String, u64> = BTreeMap::new();
        for (number, line) in Lines::new(text) {
            match parse_line(line) {
                Ok(Some((name, value))) => {
                    if let Some(earlier) = sysctl.values.get(&name).filter(|&&v| v != value) {
                        sysctl.conflicts.push(InputError::new(
                            number,
                            1,
                            format!(
                                "{name} is {value} here but {earlier} at line {}: two captures in one file? The last value is used",
                                read_at[&name]
                            ),
                        ));
                    }
                    read_at.insert(name.clone(), number);
                    sysctl.values.insert(name, value);
                }
                Ok(None) => {}
                Err((column, message)) => errors.push(InputError::new(number, column, message)),
            }
        }
        (sysctl, errors)
    }

    /// Settings read twice with different values (two captures in one
    /// file?), at their second line: not malformed, but the last value is
    /// the one used, which the reader should know.
    pub fn conflicts(&self) -> &[InputError] {
        &self.conflicts
    }

    /// The value of `name` (`nf_conntrack_max`), if the input had it.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.values.get(name).copied()
    }

    /// Sets `name` (for tests and for values given on the command line).
    pub fn set(&mut self, name: &str, value: u64) {
        self.values.insert(name.to_owned(), value);
    }

    /// The number of settings read.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no setting was read.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every setting, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(k, &v)| (k.as_str(), v))
    }
}

/// One line: `Ok(Some)` for a conntrack setting, `Ok(None)` for a line to
/// skip, `Err((column, message))` for a malformed one.
fn parse_line(line: &[u8]) -> Result<Option<(String, u64)>, (usize, String)> {
    let (start, body) = trim(line, 0);
    if body.is_empty() || body[0] == b'#' || body[0] == b';' || body.starts_with(b"sysctl:") {
        return Ok(None);
    }
    // `key = value` / `key=value`, or grep's `/proc/sys/...:value`.
    let split = if body[0] == b'/' {
        memchr::memchr(b':', body)
    } else {
        memchr::memchr(b'=', body)
    };
    let Some(at) = split else {
        return Err((
            start + 1,
            format!(
                "expected `key = value` or `/proc/sys/...:value`, found \"{}\"",
                super::text::shown(body)
            ),
        ));
    };
    let (_, key) = trim(&body[..at], 0);
    let Some(name) = short_name(key) else {
        return Ok(None);
    };
    let (value_start, value) = trim(&body[at + 1..], start + at + 1);
    match parse_decimal(value) {
        Some(n) => Ok(Some((name, n))),
        None => Err((
            value_start + 1,
            format!(
                "{name}: expected a number, found \"{}\"",
                super::text::shown(value)
            ),
        )),
    }
}

/// `nf_conntrack_max` from `net.netfilter.nf_conntrack_max`,
/// `net.nf_conntrack_max` or `/proc/sys/net/netfilter/nf_conntrack_max`;
/// `None` for anything that is not a conntrack setting.
fn short_name(key: &[u8]) -> Option<String> {
    let last = key
        .rsplit(|&b| b == b'.' || b == b'/')
        .next()
        .unwrap_or(key);
    let parent_ok = key.len() == last.len()
        || key.starts_with(b"net.netfilter.")
        || key.starts_with(b"net.nf_conntrack")
        || key.starts_with(b"/proc/sys/net/netfilter/")
        || key.starts_with(b"/proc/sys/net/nf_conntrack")
        || key.starts_with(b"net/netfilter/");
    let name = std::str::from_utf8(last).ok()?;
    (parent_ok
        && name.starts_with("nf_conntrack_")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    .then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_and_the_legacy_alias() {
        let text = b"net.netfilter.nf_conntrack_max = 262144\n\
            net.netfilter.nf_conntrack_buckets=65536\r\n\
            /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait:30\n\
            net.nf_conntrack_max = 262144\n";
        let (sysctl, errors) = Sysctl::parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(sysctl.get("nf_conntrack_max"), Some(262144));
        assert_eq!(sysctl.get("nf_conntrack_buckets"), Some(65536));
        assert_eq!(sysctl.get("nf_conntrack_tcp_timeout_time_wait"), Some(30));
        assert_eq!(sysctl.len(), 3);
    }

    /// A setting read twice with different values (two captures in one
    /// file, from before and after a change) is named at its second line;
    /// the same value twice (the legacy alias beside the key) is not.
    #[test]
    fn a_setting_with_two_values_is_reported() {
        let text = b"net.netfilter.nf_conntrack_max = 1000\n\
            net.nf_conntrack_max = 1000\n\
            net.netfilter.nf_conntrack_buckets = 256\n\
            /proc/sys/net/netfilter/nf_conntrack_max:2000\n";
        let (sysctl, errors) = Sysctl::parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(
            sysctl.conflicts(),
            vec![InputError::new(
                4,
                1,
                "nf_conntrack_max is 2000 here but 1000 at line 2: two captures in one file? \
                 The last value is used"
                    .to_owned()
            )]
        );
        assert_eq!(sysctl.get("nf_conntrack_max"), Some(2000));
    }

    #[test]
    fn unrelated_keys_comments_and_tool_messages_are_skipped() {
        let text = b"# captured at 03:12\n\
            ; another comment\n\
            \n\
            kernel.hostname = router\n\
            net.netfilter.nf_log.2 = NONE\n\
            net.ipv4.ip_local_port_range = 32768\t60999\n\
            sysctl: permission denied on key 'net.netfilter.nf_conntrack_buckets'\n\
            net.netfilter.nf_conntrack_count = 7\n";
        let (sysctl, errors) = Sysctl::parse(text);
        assert_eq!(errors, vec![]);
        assert_eq!(
            sysctl.iter().collect::<Vec<_>>(),
            [("nf_conntrack_count", 7)]
        );
    }

    #[test]
    fn errors_name_line_and_column_and_the_rest_is_read() {
        let text = b"net.netfilter.nf_conntrack_max = lots\n\
            nonsense\n\
            net.netfilter.nf_conntrack_buckets = 1024\n";
        let (sysctl, errors) = Sysctl::parse(text);
        assert_eq!(sysctl.get("nf_conntrack_buckets"), Some(1024));
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[0].column), (1, 34));
        assert_eq!(
            errors[0].message,
            "nf_conntrack_max: expected a number, found \"lots\""
        );
        assert_eq!((errors[1].line, errors[1].column), (2, 1));
        // A missing value is pointed at just past the end of the line.
        let (_, errors) = Sysctl::parse(b"nf_conntrack_max=");
        assert_eq!(
            (errors[0].column, errors[0].message.as_str()),
            (18, "nf_conntrack_max: expected a number, found \"\"")
        );
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for text in [
            &b"="[..],
            b":",
            b"/:",
            b"/proc/sys/net/netfilter/nf_conntrack_max:",
            b"\xff\xfe=1",
            b"net.netfilter.nf_conntrack_max = 99999999999999999999999",
            b"  \t ",
        ] {
            let _ = Sysctl::parse(text);
        }
        let (_, errors) =
            Sysctl::parse(b"net.netfilter.nf_conntrack_max = 99999999999999999999999");
        assert_eq!(errors.len(), 1);
    }
}
