//! The table-full test: fill a network namespace's conntrack table to the
//! kernel's limit (`fixtures/capture/fill.sh`, in namespaces of its own),
//! capture the table, sysctls and statistics while it is full, and check
//! that the doctor reports the fill, the dominating state and source, and
//! the drop counters.
//!
//! Needs root, network namespaces, nftables, conntrack-tools and python3.
//! Without them it skips with a loud message, except under CI (`CI=true`),
//! where a skip is a failure. Kernel tests never run concurrently (a full
//! table affects every namespace): they hold an exclusive lock on a file in
//! the temp directory for their whole run.

mod support;

use ctanalyze::Analyzer;
use ctanalyze::doctor::{Breakdown, Doctor, Pressure, Stats, StatsFormat, Sysctl};

#[test]
fn a_full_table_is_diagnosed() {
    let started = std::time::Instant::now();
    let Some(capture) = support::kernel::capture(
        "table-full kernel conntrack test",
        "fill.sh",
        &[],
        &["conntrack", "nft", "ip", "python3"],
    ) else {
        return;
    };
    let out = &capture.out;
    let filled = started.elapsed();
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();

    let dump = read("proc.txt");
    let summary = Analyzer::new().analyze_bytes(&dump);
    let breakdown = Breakdown::from_bytes(&dump);
    let (sysctl, errors) = Sysctl::parse(&read("sysctl.txt"));
    assert_eq!(errors, vec![]);
    let (proc_stats, errors) = Stats::parse(&read("stat_nf_conntrack.txt"));
    assert_eq!(errors, vec![]);
    let (conntrack_s, errors) = Stats::parse(&read("conntrack-S.txt"));
    assert_eq!(errors, vec![]);
    assert_eq!(summary.totals.errors, 0, "the kernel's dump must parse");

    let max = sysctl.get("nf_conntrack_max").expect("nf_conntrack_max");
    let d = Doctor::new().diagnose(&summary, &breakdown, Some(&sysctl), Some(&proc_stats));

    // The fill: the table is full, and the doctor says so.
    assert_eq!(d.fill.max, Some(max));
    let fill = d.fill.fill_percent.unwrap();
    assert!(fill >= 95.0, "fill {fill}% of {max}");
    assert_eq!(d.pressure, Pressure::Full);
    assert!(
        d.findings[0].contains("the table is full")
            || d.findings[0]
                .contains("the table is nearly full; early_drop shows the table has been full"),
        "{}",
        d.findings[0]
    );

    // The dominating state and source.
    let top_state = &d.composition.tcp_states[0];
    assert_eq!(top_state.state, "ESTABLISHED");
    assert!(top_state.count * 2 > d.fill.entries, "{top_state:?}");
    let top_source = &d.composition.top_sources[0];
    assert_eq!(top_source.address, "198.18.1.1");
    assert!(top_source.count * 2 > d.fill.entries, "{top_source:?}");

    // The counters: both forms, summed over CPUs, entries not summed.
    assert_eq!(proc_stats.format, StatsFormat::Proc);
    assert_eq!(conntrack_s.format, StatsFormat::ConntrackS);
    assert_eq!(proc_stats.cpus, conntrack_s.cpus);
    assert!(
        proc_stats
            .entries
            .is_some_and(|e| e <= max && e * 100 >= max * 95)
    );
    let drop = proc_stats.get("drop").unwrap();
    let early_drop = proc_stats.get("early_drop").unwrap();
    assert!(drop > 0, "no packet was dropped");
    assert!(early_drop > 0, "no entry was early-dropped");
    for name in ["drop", "early_drop", "insert_failed", "search_restart"] {
        assert_eq!(proc_stats.get(name), conntrack_s.get(name), "{name}");
    }

    // The recommendations that follow from it.
    let ids: Vec<&str> = d.recommendations.iter().map(|r| r.id).collect();
    assert_eq!(ids[0], "raise-max", "{ids:?}");
    assert_eq!(
        d.recommendations[0].commands,
        [format!(
            "sysctl -w net.netfilter.nf_conntrack_max={}",
            (2 * max).next_power_of_two()
        )]
    );
    assert!(
        ids.contains(&"dominant-source") && ids.contains(&"persist"),
        "{ids:?}"
    );
    // Raising the limit is no cure: it points at the source that fills it.
    let source = d.recommendation("dominant-source").unwrap();
    assert!(
        d.recommendations[0]
            .rationale
            .contains(&format!("not a cure: see \"{}\" below", source.title)),
        "{}",
        d.recommendations[0].rationale
    );
    // The TIME_WAIT entries aged 35 s before the capture: all of them would
    // be gone with a 30 s timeout (those the kernel did not evict already).
    let time_wait = d.timeouts.iter().find(|w| w.state == "TIME_WAIT").unwrap();
    assert!(
        time_wait.entries > 0 && time_wait.gone == time_wait.entries,
        "{time_wait:?}"
    );

    eprintln!(
        "table-full kernel test: nf_conntrack_max {max}, {} entries ({fill}%), {} ESTABLISHED, \
         {} from {}, drop {drop}, early_drop {early_drop}, {} of {} TIME_WAIT gone at 30 s; \
         fill and capture {:.0?}, all in {:.0?}",
        d.fill.entries,
        top_state.count,
        top_source.count,
        top_source.address,
        time_wait.gone,
        time_wait.entries,
        filled,
        started.elapsed()
    );
}
