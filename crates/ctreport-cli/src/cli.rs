//! Command-line definition (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ctanalyze::doctor::whatif::Timer;
use ctanalyze::{Cidr, Filter, MarkMatch, Nat, Prefixes, StatusMatch};
use ctparse::{Family, Protocol};

/// What fills your Linux conntrack table, from a dump, in one pass.
///
/// Reads `/proc/net/nf_conntrack`, `conntrack -L` (-o extended, id,
/// ktimestamp, labels...; not -o xml) and
/// `conntrack -E` output, plain or gzip/zstd compressed, from files or
/// stdin, and reports protocols, TCP states, top talkers and NAT pairs.
#[derive(Debug, Parser)]
#[command(
    name = "ctreport",
    version,
    about,
    max_term_width = 100,
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// The report to produce.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, as every subcommand gives them.
const EXIT_STATUS: &str = "Exit status:
  0  the report was produced (also when stdout closes early, as with | head)
  1  `check` found malformed lines, or --strict and a line was malformed
  2  an input could not be opened (nothing is reported), was refused (a
     packing ctreport does not read; conntrack -E events for doctor and
     diff), changed while it was read, or could not be read to its end (the
     report is of what was read); an input gave no entry but malformed
     lines (the wrong file, a failed capture); or a usage error";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every section: totals, families, protocols, states, flags, top
    /// sources (and their /24 or /64 networks), destinations and ports,
    /// DNAT/SNAT pairs, zones, marks, accounting.
    Summary(ReportArgs),
    /// Top source IPs (original direction); `--by dst` for destinations,
    /// `--prefix 24` for networks.
    TopIps(TopIpsArgs),
    /// Flows per L4 protocol.
    Protocols(ReportArgs),
    /// Flows per TCP state (and SCTP/DCCP states when present; CSV has a
    /// leading `section` column); with `-p tcp`, `-p sctp` or `-p dccp`,
    /// that protocol's states only.
    States(ReportArgs),
    /// Top destination ports (protocol and port).
    TopPorts(ReportArgs),
    /// Top destination-NAT pairs (original destination -> translated).
    Dnat(ReportArgs),
    /// Top source-NAT pairs (original source -> translated).
    Snat(ReportArgs),
    /// Parse only: list every malformed line as file:line:col; exit 1 if
    /// any, 2 if an input cannot be read to its end or gives no entry but
    /// malformed lines.
    #[command(after_help = EXIT_STATUS)]
    Check(CheckArgs),
    /// The (filtered) flow records themselves, one row per flow, as CSV or
    /// newline-delimited JSON, for DuckDB, ClickHouse or Spark.
    Flows(FlowsArgs),
    /// Table-full post-mortem: fill, what fills it, timeout what-ifs,
    /// NOTRACK candidates, SNAT source ports, drop counters and recommendations with commands.
    ///
    /// Give it the dump and, captured at the same time, the sysctls
    /// (`sysctl -a | grep conntrack`) and the statistics (`conntrack -S` or
    /// `/proc/net/stat/nf_conntrack`); it says what it cannot assess
    /// without them.
    Doctor(DoctorArgs),
    /// What changed between two snapshots: totals, protocols, states, and
    /// the sources, destinations and DNAT pairs that grew the most.
    Diff(DiffArgs),
}

/// Arguments shared by every report.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `top-ips` arguments.
#[derive(Debug, Args)]
pub struct TopIpsArgs {
    /// Rank source (original `src`) or destination (original `dst`) addresses.
    #[arg(long, value_enum, default_value_t = By::Src)]
    pub by: By,
    /// Rank networks instead of addresses: `24` groups IPv4 addresses by
    /// /24 and IPv6 ones by /64, `24,48` sets both lengths.
    ///
    /// Each network's row says how many of its addresses have entries: a
    /// scan from one /24, a NAT pool or IPv6 clients rotating their privacy
    /// addresses fill the table from many addresses that each rank low.
    #[arg(long, value_name = "V4[,V6]")]
    pub prefix: Option<Prefixes>,
    #[command(flatten)]
    pub report: ReportArgs,
}

/// Which address `top-ips` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// Original-direction source addresses.
    Src,
    /// Original-direction destination addresses.
    Dst,
}

/// `check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// How each malformed line is listed on stdout (the totals line goes
    /// to stderr in every format).
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

/// Formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// `FILE:LINE:COL: MESSAGE`, as compilers print (editors jump to it).
    Text,
    /// CSV with a header row: path, line, column, message.
    Csv,
    /// Newline-delimited JSON: one object (path, line, column, message) a line.
    Json,
}

/// `flows` arguments.
#[derive(Debug, Args)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output format: CSV with a header row, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = FlowFormat::Csv)]
    pub format: FlowFormat,
    /// Print at most this many malformed lines on stderr (then a count).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_errors: usize,
    /// Exit 1 if any line is malformed.
    #[arg(long)]
    pub strict: bool,
}

/// `doctor` arguments.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The table dump (`-` reads stdin; gzip and zstd are detected).
    #[arg(value_name = "DUMP")]
    pub dump: PathBuf,
    /// The sysctls captured with the dump: `sysctl -a | grep conntrack`,
    /// `key=value` lines, or `grep -r . /proc/sys/net/netfilter/`.
    #[arg(long, value_name = "FILE")]
    pub sysctl: Option<PathBuf>,
    /// The statistics captured with the dump: `conntrack -S` or
    /// `/proc/net/stat/nf_conntrack` (per-CPU counters are summed).
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// nf_conntrack_max (overrides --sysctl).
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// nf_conntrack_buckets (overrides --sysctl).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub buckets: Option<u64>,
    /// Bytes per entry for the memory estimate [default: 320].
    ///
    /// The nf_conntrack slab object size: the 4th column of `grep
    /// nf_conntrack /proc/slabinfo` on the host.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub object_size: Option<u64>,
    /// Try this timeout in the what-if, e.g. `tcp_timeout_established=3600`
    /// (repeatable, one value a sysctl: the last counts).
    ///
    /// SYSCTL is a timeout sysctl with or without its `net.netfilter.` and
    /// `nf_conntrack_` prefixes: tcp_timeout_{syn_sent, syn_recv,
    /// established, fin_wait, close_wait, last_ack, time_wait, close},
    /// udp_timeout, udp_timeout_stream, icmp_timeout, icmpv6_timeout,
    /// generic_timeout. Every value asked gets its row in the what-if
    /// table; it is never turned into a recommendation.
    #[arg(long = "what-if", value_name = "SYSCTL=SECONDS", value_parser = parse_what_if)]
    pub what_if: Vec<(Timer, u64)>,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `diff` arguments.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier dump.
    #[arg(value_name = "BEFORE")]
    pub before: PathBuf,
    /// The later dump.
    #[arg(value_name = "AFTER")]
    pub after: PathBuf,
    /// Compare networks instead of addresses: `24` groups IPv4 sources and
    /// destinations by /24 and IPv6 ones by /64, `24,48` sets both lengths.
    #[arg(long, value_name = "V4[,V6]")]
    pub prefix: Option<Prefixes>,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How a pass runs (for commands with fixed inputs).
#[derive(Debug, Args)]
pub struct PassArgs {
    /// Worker threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = parse_threads)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The most threads `--threads` takes: far more than the cores of any
/// machine, few enough to start in milliseconds (100,000 threads took
/// minutes and all of the memory's mappings).
const MAX_THREADS: usize = 1024;

/// `--threads`: 0 to [`MAX_THREADS`].
fn parse_threads(text: &str) -> Result<usize, String> {
    let threads: usize = text
        .parse()
        .map_err(|_| format!("expected a number of threads, found \"{text}\""))?;
    if threads > MAX_THREADS {
        return Err(format!(
            "{threads} threads is more than ctreport starts (at most {MAX_THREADS}; 0 is one per core)"
        ));
    }
    Ok(threads)
}

/// `SYSCTL=SECONDS` of `--what-if`.
fn parse_what_if(text: &str) -> Result<(Timer, u64), String> {
    let (name, seconds) = text
        .split_once('=')
        .ok_or_else(|| "expected SYSCTL=SECONDS, e.g. tcp_timeout_time_wait=30".to_owned())?;
    let timer = Timer::from_sysctl(name.trim()).ok_or_else(|| {
        format!(
            "unknown timeout sysctl \"{}\" (one of: {})",
            name.trim(),
            ctanalyze::doctor::whatif::TIMERS
                .iter()
                .map(|t| t.sysctl.trim_start_matches("nf_conntrack_"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let seconds = seconds
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a number of seconds, found \"{}\"", seconds.trim()))?;
    Ok((timer, seconds))
}

/// Formats of `flows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowFormat {
    /// CSV with a header row.
    Csv,
    /// Newline-delimited JSON.
    Json,
}

/// Where the dump comes from.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct InputArgs {
    /// Dump files (several are merged; per-file totals are kept). `-` or
    /// nothing reads stdin. gzip and zstd are detected by their magic bytes.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Worker threads (0: one per core; at most 1024).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = parse_threads)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Output options of reports. Negative numbers are values (and refused
/// as such), where clap's own error advised `-- -1`, which makes a file.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct OutputArgs {
    /// Rows per ranked section (0: all).
    #[arg(short = 'n', long = "top", default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print at most this many malformed lines on stderr (then a count).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_errors: usize,
    /// Exit 1 if any line is malformed.
    #[arg(long)]
    pub strict: bool,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// CSV with a header row (several sections: one table with a leading
    /// `section` column).
    Csv,
    /// One typed JSON object (schema `ctreport.<command>/1`).
    Json,
    /// GitHub-flavored markdown tables.
    Markdown,
}

/// Selection options, named like `conntrack -L`'s.
#[derive(Debug, Args, Default)]
#[command(
    next_help_heading = "Filters (as conntrack -L)",
    allow_negative_numbers = true
)]
pub struct FilterArgs {
    /// Layer-3 family.
    #[arg(short = 'f', long, value_parser = parse_family, value_name = "ipv4|ipv6")]
    pub family: Option<Family>,
    /// L4 protocol, by name (tcp, udp, udplite, icmp, icmpv6, sctp, dccp, gre) or number.
    #[arg(short = 'p', long = "proto", value_parser = parse_protocol, value_name = "PROTO")]
    pub protocol: Option<Protocol>,
    /// Protocol state (TCP by default; SCTP/DCCP with -p sctp|dccp); '(none)'
    /// for entries printed without one, as the states report counts them.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Original source address or prefix.
    #[arg(
        short = 's',
        long = "src",
        visible_alias = "orig-src",
        value_name = "ADDR[/LEN]"
    )]
    pub src: Option<Cidr>,
    /// Original destination address or prefix.
    #[arg(
        short = 'd',
        long = "dst",
        visible_alias = "orig-dst",
        value_name = "ADDR[/LEN]"
    )]
    pub dst: Option<Cidr>,
    /// Reply source address or prefix.
    #[arg(short = 'r', long = "reply-src", value_name = "ADDR[/LEN]")]
    pub reply_src: Option<Cidr>,
    /// Reply destination address or prefix.
    #[arg(short = 'q', long = "reply-dst", value_name = "ADDR[/LEN]")]
    pub reply_dst: Option<Cidr>,
    /// Original source port.
    #[arg(long = "sport", visible_alias = "orig-port-src", value_name = "PORT")]
    pub sport: Option<u16>,
    /// Original destination port.
    #[arg(long = "dport", visible_alias = "orig-port-dst", value_name = "PORT")]
    pub dport: Option<u16>,
    /// Mark, optionally masked: matches when (mark & MASK) == VALUE.
    // A leading `-` is the value's, refused by its parser (`-1/3`), not
    // clap's tip to write `-- -1/3`, which makes it a file.
    #[arg(
        short = 'm',
        long,
        value_name = "VALUE[/MASK]",
        allow_hyphen_values = true
    )]
    pub mark: Option<MarkMatch>,
    /// Conntrack zone (entries without zone= are zone 0).
    #[arg(short = 'w', long, value_name = "ZONE")]
    pub zone: Option<u16>,
    /// Original-direction zone (`zone-orig=`; 0 when absent).
    #[arg(long, value_name = "ZONE")]
    pub orig_zone: Option<u16>,
    /// Reply-direction zone (`zone-reply=`; 0 when absent).
    #[arg(long, value_name = "ZONE")]
    pub reply_zone: Option<u16>,
    /// Status flags, comma-separated; all must hold.
    #[arg(
        short = 'u',
        long,
        value_delimiter = ',',
        value_name = "ASSURED|SEEN_REPLY|UNREPLIED|OFFLOAD|HW_OFFLOAD"
    )]
    pub status: Vec<StatusMatch>,
    /// Only source-NATed flows (reply destination differs from original
    /// source); with --dst-nat, flows with both.
    #[arg(long)]
    pub src_nat: bool,
    /// Only destination-NATed flows (reply source differs from original
    /// destination); with --src-nat, flows with both.
    #[arg(long)]
    pub dst_nat: bool,
    /// Only flows with source or destination NAT (with --src-nat or
    /// --dst-nat too, still either, as in conntrack).
    #[arg(long)]
    pub any_nat: bool,
}

impl FilterArgs {
    /// The filter these options describe.
    pub fn to_filter(&self) -> Result<Filter, String> {
        let mut filter = Filter {
            family: self.family,
            protocol: self.protocol,
            state: None,
            stateless: false,
            src: self.src,
            dst: self.dst,
            reply_src: self.reply_src,
            reply_dst: self.reply_dst,
            sport: self.sport,
            dport: self.dport,
            mark: self.mark,
            zone: self.zone,
            orig_zone: self.orig_zone,
            reply_zone: self.reply_zone,
            status: self.status.clone(),
            // As conntrack -L's filter_nat(): --any-nat wins, and
            // --src-nat with --dst-nat wants both.
            nat: match (self.src_nat, self.dst_nat, self.any_nat) {
                (_, _, true) => Some(Nat::Any),
                (true, true, false) => Some(Nat::Both),
                (true, false, false) => Some(Nat::Src),
                (false, true, false) => Some(Nat::Dst),
                (false, false, false) => None,
            },
        };
        if let Some(name) = &self.state {
            filter
                .select_state(name)
                .map_err(|e| format!("--state: {e}"))?;
        }
        if let Some(why) = filter.never_matches() {
            say!("ctreport: warning: the filters can match no flow: {why}");
        }
        Ok(filter)
    }
}

fn parse_family(text: &str) -> Result<Family, String> {
    // In any case, as -p takes protocol names.
    match text.to_ascii_lowercase().as_str() {
        "ipv4" | "4" => Ok(Family::Ipv4),
        "ipv6" | "6" => Ok(Family::Ipv6),
        _ => Err("expected ipv4 or ipv6".to_owned()),
    }
}

fn parse_protocol(text: &str) -> Result<Protocol, String> {
    let name = text.to_ascii_lowercase();
    if let Some(protocol) = Protocol::from_name(name.as_bytes()) {
        return Ok(protocol);
    }
    // /etc/protocols' names for ICMPv6.
    if matches!(name.as_str(), "ipv6-icmp" | "icmp6") {
        return Ok(Protocol::ICMPV6);
    }
    text.parse::<u8>().map(Protocol).map_err(|_| {
        "expected a protocol name (tcp, udp, udplite, icmp, icmpv6, sctp, dccp, gre) or number \
         from 0 to 255"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn doctor_and_diff_arguments() {
        let cli = Cli::try_parse_from([
            "ctreport",
            "doctor",
            "--sysctl",
            "s.txt",
            "--what-if",
            "tcp_timeout_established=3600",
            "--what-if",
            "net.netfilter.nf_conntrack_udp_timeout=5",
            "--what-if",
            "icmp_timeout=2",
            "--max",
            "1024",
            "dump.txt",
        ])
        .unwrap();
        let Command::Doctor(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.dump, PathBuf::from("dump.txt"));
        assert_eq!(args.max, Some(1024));
        assert_eq!(
            args.what_if,
            vec![
                (Timer::Tcp(ctparse::TcpState::Established), 3600),
                (Timer::Udp, 5),
                (Timer::Icmp, 2)
            ]
        );
        let bad = Cli::try_parse_from([
            "ctreport",
            "doctor",
            "--what-if",
            "tcp_timeout_syn_sent2=1",
            "d",
        ]);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown timeout sysctl")
        );
        // Zero buckets or bytes per entry is no value, not "unknown".
        for option in ["--buckets", "--object-size"] {
            assert!(Cli::try_parse_from(["ctreport", "doctor", option, "0", "d"]).is_err());
        }
        let bad = Cli::try_parse_from(["ctreport", "doctor", "--what-if", "udp_timeout=soon", "d"]);
        assert!(bad.unwrap_err().to_string().contains("number of seconds"));
        let cli = Cli::try_parse_from(["ctreport", "diff", "-p", "tcp", "a.txt", "b.txt"]).unwrap();
        let Command::Diff(args) = cli.command else {
            panic!()
        };
        assert_eq!((args.before, args.after), ("a.txt".into(), "b.txt".into()));
        assert!(Cli::try_parse_from(["ctreport", "diff", "a.txt"]).is_err());
    }

    #[test]
    fn conntrack_style_filters_parse() {
        let cli = Cli::try_parse_from([
            "ctreport",
            "summary",
            "-p",
            "tcp",
            "--state",
            "time_wait",
            "-s",
            "192.0.2.0/24",
            "-m",
            "1/0xff",
            "-u",
            "ASSURED,SEEN_REPLY",
            "--dst-nat",
            "dump.txt",
        ])
        .unwrap();
        let Command::Summary(args) = cli.command else {
            panic!()
        };
        let filter = args.filter.to_filter().unwrap();
        assert_eq!(filter.protocol, Some(Protocol::TCP));
        assert_eq!(
            filter.state,
            Some(ctparse::State::Tcp(ctparse::TcpState::TimeWait))
        );
        assert_eq!(
            filter.mark,
            Some(MarkMatch {
                value: 1,
                mask: 0xff
            })
        );
        assert_eq!(
            filter.status,
            vec![StatusMatch::Assured, StatusMatch::SeenReply]
        );
        assert_eq!(filter.nat, Some(Nat::Dst));
        assert_eq!(args.input.files, vec![PathBuf::from("dump.txt")]);
    }

    /// Family and protocol names in any case, and /etc/protocols' names
    /// for ICMPv6.
    #[test]
    fn names_in_any_case_and_the_icmpv6_aliases() {
        assert_eq!(parse_family("IPv6"), Ok(Family::Ipv6));
        assert_eq!(parse_family("IPV4"), Ok(Family::Ipv4));
        assert_eq!(parse_protocol("TCP"), Ok(Protocol::TCP));
        assert_eq!(parse_protocol("ipv6-icmp"), Ok(Protocol::ICMPV6));
        assert_eq!(parse_protocol("ICMP6"), Ok(Protocol::ICMPV6));
        assert!(parse_family("ipv5").is_err());
    }
}
