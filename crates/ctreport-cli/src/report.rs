//! The report: one typed structure (serialized as is for JSON), and the
//! table model every other format renders from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use ctanalyze::{
    AccountingRow, AddressBytesRow, AddressRow, EventRow, FamilyRow, FlagsRow, MarkRow, NatRow,
    NetworkRow, PortRow, Prefixes, ProtocolRow, StateRow, Summary, ZoneRow,
};

use ctparse::ParseError;

use crate::analysis::{Analysis, Stopped};

/// Per-input totals, as serialized.
#[derive(Debug, Serialize)]
pub struct InputJson {
    pub path: String,
    pub bytes: u64,
    pub lines: u64,
    pub flows: u64,
    pub skipped: u64,
    pub errors: u64,
    /// Present when the input could not be read to its end: the counts
    /// are of what was read before this point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_error: Option<Stopped>,
}

/// Totals over all inputs.
#[derive(Debug, Serialize)]
pub struct TotalsJson {
    pub lines: u64,
    pub flows: u64,
    /// Flows that passed the filters (all flows without filters).
    pub matched: u64,
    pub skipped: u64,
    pub errors: u64,
}

/// A malformed line.
#[derive(Debug, Serialize)]
pub struct ErrorJson {
    pub path: String,
    pub line: u64,
    pub column: usize,
    pub message: String,
}

impl ErrorJson {
    pub fn new(path: &Path, error: &ParseError) -> ErrorJson {
        ErrorJson {
            path: path.display().to_string(),
            line: error.line,
            column: error.column,
            message: error.message(),
        }
    }
}

/// The whole report. Sections a subcommand does not produce are absent.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// `ctreport.<command>/1`.
    pub schema: String,
    pub inputs: Vec<InputJson>,
    pub totals: Option<TotalsJson>,
    /// `conntrack -E` events by type, when the input holds events: then
    /// every count of the report is of events, not of table entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<FamilyRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<ProtocolRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_states: Option<Vec<StateRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sctp_states: Option<Vec<StateRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dccp_states: Option<Vec<StateRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<FlagsRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_sources: Option<Vec<AddressRow>>,
    /// The prefix lengths of the network sections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Prefixes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_source_networks: Option<Vec<NetworkRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_destinations: Option<Vec<AddressRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_destination_networks: Option<Vec<NetworkRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_ports: Option<Vec<PortRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnat: Option<Vec<NatRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snat: Option<Vec<NatRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<ZoneRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marks: Option<Vec<MarkRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounting: Option<AccountingRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_sources_by_bytes: Option<Vec<AddressBytesRow>>,
    /// How many keys each ranked section has in all, by the section's
    /// key (`"top_sources": 99392`): its rows are the top `-n` of them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub distinct: BTreeMap<&'static str, u64>,
    pub errors: Vec<ErrorJson>,
}

impl Report {
    /// The parts every report has: schema, inputs, totals, kept errors.
    pub fn new(command: &str, analysis: &Analysis, max_errors: usize) -> Report {
        let t = &analysis.summary.totals;
        Report {
            schema: format!("ctreport.{command}/1"),
            inputs: analysis
                .inputs
                .iter()
                .map(|i| InputJson {
                    path: i.path.display().to_string(),
                    bytes: i.bytes,
                    lines: i.lines,
                    flows: i.flows,
                    skipped: i.skipped,
                    errors: i.errors,
                    read_error: i.read_error.clone(),
                })
                .collect(),
            totals: Some(TotalsJson {
                lines: t.lines,
                flows: t.flows,
                matched: t.matched,
                skipped: t.skipped,
                errors: t.errors,
            }),
            errors: t
                .error_samples
                .samples
                .iter()
                .take(max_errors)
                .map(|s| ErrorJson::new(analysis.path(s.input), &s.error))
                .collect(),
            events: Some(analysis.summary.event_rows()).filter(|rows| !rows.is_empty()),
            ..Report::default()
        }
    }

    /// Notes in [`distinct`](Report::distinct) how many keys each ranked
    /// section present has in `summary`.
    pub fn count_distinct(&mut self, summary: &Summary) {
        let ranked = [
            (
                "top_sources",
                self.top_sources.is_some(),
                summary.sources.len(),
            ),
            (
                "top_destinations",
                self.top_destinations.is_some(),
                summary.destinations.len(),
            ),
            (
                "top_ports",
                self.top_ports.is_some(),
                summary.destination_ports.len(),
            ),
            ("dnat", self.dnat.is_some(), summary.dnat.len()),
            ("snat", self.snat.is_some(), summary.snat.len()),
            ("zones", self.zones.is_some(), summary.zones.len()),
            ("marks", self.marks.is_some(), summary.marks.len()),
            (
                "top_sources_by_bytes",
                self.top_sources_by_bytes.is_some(),
                summary.source_bytes.len(),
            ),
        ];
        for (key, present, distinct) in ranked {
            if present {
                self.distinct.insert(key, distinct as u64);
            }
        }
    }

    /// The table model of every section present, in reading order.
    pub fn sections(&self) -> Vec<Section> {
        let matched = self.totals.as_ref().map_or(0, |t| t.matched);
        let pct = |count: u64| Cell::Percent(percent(count, matched));
        let mut sections = Vec::new();
        sections.extend(incomplete(&self.inputs));
        if let Some(t) = &self.totals {
            let mut rows = vec![
                vec![Cell::text("lines"), Cell::Int(t.lines)],
                vec![Cell::text("flows"), Cell::Int(t.flows)],
                vec![Cell::text("matched"), Cell::Int(t.matched)],
                vec![Cell::text("skipped"), Cell::Int(t.skipped)],
                vec![Cell::text("malformed"), Cell::Int(t.errors)],
            ];
            if self.inputs.len() > 1 {
                for input in &self.inputs {
                    rows.push(vec![
                        Cell::Text(format!("flows in {}", input.path)),
                        Cell::Int(input.flows),
                    ]);
                }
            }

            sections.push(Section::new("totals", "Totals", &["metric", "value"], rows));
        }
        if let Some(rows) = &self.events {
            let events: u64 = rows.iter().map(|r| r.count).sum();
            let flows = self.totals.as_ref().map_or(0, |t| t.flows);
            let title = if events >= flows {
                "Events (a `conntrack -E` capture: the counts below are of events, not of table entries)"
            } else {
                "Events (some lines are `conntrack -E` events, the others table entries: the counts below mix the two)"
            };
            let rows = rows
                .iter()
                .map(|r| vec![Cell::text(r.event), Cell::Int(r.count), pct(r.count)]);
            sections.push(Section::new(
                "events",
                title,
                &["event", "count", "percent"],
                rows.collect(),
            ));
        }
        if let Some(rows) = &self.families {
            let rows = rows
                .iter()
                .map(|r| vec![Cell::text(r.family), Cell::Int(r.count), pct(r.count)]);
            sections.push(Section::new(
                "families",
                "Families",
                &["family", "count", "percent"],
                rows.collect(),
            ));
        }
        if let Some(rows) = &self.protocols {
            let rows = rows.iter().map(|r| {
                vec![
                    Cell::text(r.protocol),
                    Cell::Id(u64::from(r.number)),
                    Cell::Int(r.count),
                    pct(r.count),
                ]
            });
            let columns = &["protocol", "number", "count", "percent"];
            sections.push(Section::new(
                "protocols",
                "Protocols",
                columns,
                rows.collect(),
            ));
        }
        for (key, title, rows) in [
            // Percent of every flow, not of the protocol's: what share of
            // the table a state takes.
            (
                "tcp_states",
                "TCP states (percent of matched flows)",
                &self.tcp_states,
            ),
            (
                "sctp_states",
                "SCTP states (percent of matched flows)",
                &self.sctp_states,
            ),
            (
                "dccp_states",
                "DCCP states (percent of matched flows)",
                &self.dccp_states,
            ),
        ] {
            if let Some(rows) = rows {
                let rows = rows
                    .iter()
                    .map(|r| vec![Cell::text(r.state), Cell::Int(r.count), pct(r.count)]);
                sections.push(Section::new(
                    key,
                    title,
                    &["state", "count", "percent"],
                    rows.collect(),
                ));
            }
        }
        if let Some(f) = &self.flags {
            let rows = [
                ("ASSURED", f.assured),
                ("UNREPLIED", f.unreplied),
                ("OFFLOAD", f.offload),
                ("HW_OFFLOAD", f.hw_offload),
            ]
            .into_iter()
            .map(|(name, count)| vec![Cell::text(name), Cell::Int(count), pct(count)]);
            sections.push(Section::new(
                "flags",
                "Flags",
                &["flag", "count", "percent"],
                rows.collect(),
            ));
        }
        // Each direction's addresses, then their networks.
        for (key, title, rows, networks) in [
            (
                "top_sources",
                "Top sources",
                &self.top_sources,
                (
                    "top_source_networks",
                    "Top source networks",
                    &self.top_source_networks,
                ),
            ),
            (
                "top_destinations",
                "Top destinations",
                &self.top_destinations,
                (
                    "top_destination_networks",
                    "Top destination networks",
                    &self.top_destination_networks,
                ),
            ),
        ] {
            if let Some(rows) = rows {
                let rows = rows.iter().map(|r| {
                    vec![
                        Cell::Text(r.address.clone()),
                        Cell::Int(r.count),
                        pct(r.count),
                    ]
                });
                sections.push(Section::new(
                    key,
                    title,
                    &["address", "count", "percent"],
                    rows.collect(),
                ));
            }
            if let (key, title, Some(rows)) = networks {
                sections.push(network_section(key, title, rows, matched));
            }
        }
        if let Some(rows) = &self.top_ports {
            let rows = rows.iter().map(|r| {
                vec![
                    Cell::text(r.protocol),
                    Cell::Id(u64::from(r.port)),
                    Cell::Int(r.count),
                    pct(r.count),
                ]
            });
            let columns = &["protocol", "port", "count", "percent"];
            sections.push(Section::new(
                "top_ports",
                "Top destination ports",
                columns,
                rows.collect(),
            ));
        }
        for (key, title, rows) in [
            ("dnat", "DNAT pairs", &self.dnat),
            ("snat", "SNAT pairs", &self.snat),
        ] {
            if let Some(rows) = rows {
                let rows = rows.iter().map(|r| {
                    vec![
                        Cell::text(r.protocol),
                        Cell::Text(r.original.clone()),
                        Cell::Text(r.translated.clone()),
                        Cell::Int(r.count),
                        pct(r.count),
                    ]
                });
                let columns = &["protocol", "original", "translated", "count", "percent"];
                sections.push(Section::new(key, title, columns, rows.collect()));
            }
        }
        if let Some(rows) = &self.zones {
            let rows = rows.iter().map(|r| {
                vec![
                    Cell::Id(u64::from(r.zone)),
                    Cell::Int(r.count),
                    pct(r.count),
                ]
            });
            sections.push(Section::new(
                "zones",
                "Zones",
                &["zone", "count", "percent"],
                rows.collect(),
            ));
        }
        if let Some(rows) = &self.marks {
            let rows = rows.iter().map(|r| {
                vec![
                    Cell::Id(u64::from(r.mark)),
                    // Marks are set and matched in hex (`meta mark 0xff00ff`).
                    Cell::Text(format!("{:#x}", r.mark)),
                    Cell::Int(r.count),
                    pct(r.count),
                ]
            });
            sections.push(Section::new(
                "marks",
                "Marks",
                &["mark", "hex", "count", "percent"],
                rows.collect(),
            ));
        }
        if let Some(a) = &self.accounting {
            let rows = [
                ("flows with counters", Cell::Int(a.flows_with_counters)),
                ("original packets", Cell::Int(a.orig_packets)),
                ("original bytes", Cell::Bytes(a.orig_bytes)),
                ("reply packets", Cell::Int(a.reply_packets)),
                ("reply bytes", Cell::Bytes(a.reply_bytes)),
            ]
            .into_iter()
            .map(|(name, value)| vec![Cell::text(name), value]);
            sections.push(Section::new(
                "accounting",
                "Accounting",
                &["metric", "value"],
                rows.collect(),
            ));
        }
        if let Some(rows) = &self.top_sources_by_bytes {
            let total: u64 = self
                .accounting
                .as_ref()
                .map_or(0, |a| a.orig_bytes.saturating_add(a.reply_bytes));
            let rows = rows.iter().map(|r| {
                vec![
                    Cell::Text(r.address.clone()),
                    Cell::Bytes(r.bytes),
                    Cell::Percent(percent(r.bytes, total)),
                ]
            });
            let columns = &["address", "bytes", "percent"];
            sections.push(Section::new(
                "top_sources_by_bytes",
                "Top sources by bytes",
                columns,
                rows.collect(),
            ));
        }
        for section in &mut sections {
            section.note_distinct(&self.distinct);
        }
        sections
    }
}

/// A ranked list of networks, percentages of `total`.
pub fn network_section(
    key: &'static str,
    title: &'static str,
    rows: &[NetworkRow],
    total: u64,
) -> Section {
    let rows = rows.iter().map(|r| {
        vec![
            Cell::Text(r.network.clone()),
            Cell::Int(r.addresses),
            Cell::Int(r.count),
            Cell::Percent(percent(r.count, total)),
        ]
    });
    Section::new(
        key,
        title,
        &["network", "addresses", "count", "percent"],
        rows.collect(),
    )
}

pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// One section of a report as a table.
#[derive(Debug, Clone)]
pub struct Section {
    /// The JSON key and CSV `section` value.
    pub key: &'static str,
    /// The heading in table and markdown output.
    pub title: &'static str,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows, one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// For a ranked section cut to its top rows: how many there are in all.
    pub of: Option<u64>,
}

impl Section {
    /// The title as printed: a ranked section cut short says of how many
    /// its rows are the top (`Top sources (10 of 99,392)`).
    pub fn heading(&self) -> String {
        match self.of {
            Some(all) => format!(
                "{} ({} of {})",
                self.title,
                thousands(self.rows.len() as u64),
                thousands(all)
            ),
            None => self.title.to_owned(),
        }
    }

    /// Sets [`of`](Section::of) from `distinct` (keys by section key),
    /// when the section shows fewer rows than there are keys.
    pub fn note_distinct(&mut self, distinct: &BTreeMap<&'static str, u64>) {
        self.of = distinct
            .get(self.key)
            .copied()
            .filter(|&all| all > self.rows.len() as u64);
    }

    pub fn new(
        key: &'static str,
        title: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Cell>>,
    ) -> Section {
        Section {
            key,
            title,
            columns: columns.to_vec(),
            rows,
            of: None,
        }
    }
}

/// A table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, left-aligned.
    Text(String),
    /// A count, right-aligned, thousands separated in tables.
    Int(u64),
    /// A numeric identifier (port, protocol number, zone, mark): right-aligned, never separated.
    Id(u64),
    /// A percentage, right-aligned, one decimal.
    Percent(f64),
    /// A signed change, right-aligned, with its sign (`+12`, `-3`, `0`).
    Signed(i64),
    /// A ratio, right-aligned, two decimals.
    Ratio(f64),
    /// A size in bytes: `160.0 MiB` in tables, the plain number elsewhere.
    Bytes(u64),
}

impl Cell {
    pub fn text(text: &str) -> Cell {
        Cell::Text(text.to_owned())
    }

    /// Numbers align right.
    pub fn is_numeric(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }

    /// The plain form (CSV): `1234`, `12.5`.
    pub fn plain(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Int(n) | Cell::Id(n) | Cell::Bytes(n) => n.to_string(),
            Cell::Percent(p) => ctanalyze::doctor::one_decimal(*p),
            Cell::Signed(n) => signed(*n, n.unsigned_abs().to_string()),
            Cell::Ratio(r) => format!("{r:.2}"),
        }
    }

    /// The terminal form: thousands separated, `12.5%`.
    pub fn pretty(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Int(n) => thousands(*n),
            Cell::Id(n) => n.to_string(),
            Cell::Percent(p) => ctanalyze::doctor::percent_for_people(*p),
            Cell::Signed(n) => signed(*n, thousands(n.unsigned_abs())),
            Cell::Ratio(r) => format!("{r:.2}"),
            Cell::Bytes(n) => ctanalyze::doctor::format_bytes(*n),
        }
    }
}

/// `+12`, `-3`, `0`.
fn signed(n: i64, digits: String) -> String {
    match n.signum() {
        1 => format!("+{digits}"),
        -1 => format!("-{digits}"),
        _ => digits,
    }
}

/// The section that opens a report when some input could not be read to
/// its end (`None` otherwise): in the report itself and not only on
/// stderr, so that a saved report does not pass for one of the whole
/// table. Line and column are positions, printed without separators.
pub fn incomplete(inputs: &[InputJson]) -> Option<Section> {
    let stopped: Vec<Vec<Cell>> = inputs
        .iter()
        .filter_map(|input| {
            let r = input.read_error.as_ref()?;
            Some(vec![
                Cell::Text(input.path.clone()),
                Cell::Id(r.line),
                Cell::Id(r.column),
                Cell::Text(r.message.clone()),
            ])
        })
        .collect();
    (!stopped.is_empty()).then(|| {
        Section::new(
            "incomplete",
            "INCOMPLETE: reading stopped early; every count below is of the lines read before",
            &["input", "line", "column", "error"],
            stopped,
        )
    })
}

/// One part of a document that mixes tables and prose (`doctor`): table
/// and markdown output show both, CSV only the tables, JSON neither (it is
/// the typed report serialized).
#[derive(Debug, Clone)]
pub enum Part {
    /// A table.
    Table(Section),
    /// Prose.
    Prose(Prose),
}

/// A titled list of prose items: findings, recommendations.
#[derive(Debug, Clone)]
pub struct Prose {
    /// Its name in CSV's `section` column.
    pub key: &'static str,
    /// The heading.
    pub title: &'static str,
    /// Number the items (`1.`) rather than bullet them.
    pub numbered: bool,
    /// The items.
    pub items: Vec<Item>,
}

/// One prose item: an optional bold title, a paragraph, and commands
/// shown verbatim (a command may span lines).
#[derive(Debug, Clone)]
pub struct Item {
    /// A one-line title.
    pub title: Option<String>,
    /// The paragraph.
    pub text: String,
    /// Commands, verbatim.
    pub commands: Vec<String>,
}

impl Prose {
    /// The items as a table, for CSV: `item` (1-based), `title`, `text`
    /// and `commands` (one a line), so that nothing of the prose is lost.
    pub fn to_section(&self) -> Section {
        let rows = self
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                vec![
                    Cell::Id(index as u64 + 1),
                    Cell::Text(item.title.clone().unwrap_or_default()),
                    Cell::Text(item.text.clone()),
                    Cell::Text(item.commands.join("\n")),
                ]
            })
            .collect();
        Section::new(
            self.key,
            self.title,
            &["item", "title", "text", "commands"],
            rows,
        )
    }
}

/// `1234567` -> `1,234,567` (the doctor's formatter, so prose and tables agree).
pub use ctanalyze::doctor::group as thousands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_cell_kinds() {
        assert_eq!(Cell::Signed(1234).pretty(), "+1,234");
        assert_eq!(Cell::Signed(-5).plain(), "-5");
        assert_eq!(Cell::Signed(0).pretty(), "0");
        assert_eq!(Cell::Signed(i64::MIN).plain(), "-9223372036854775808");
        assert_eq!(Cell::Ratio(2.0).pretty(), "2.00");
        assert_eq!(Cell::Bytes(524_288 * 320).pretty(), "160.0 MiB");
        assert_eq!(Cell::Bytes(512).pretty(), "512 bytes");
        assert_eq!(Cell::Bytes(512).plain(), "512");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
