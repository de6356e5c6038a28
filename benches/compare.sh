#!/usr/bin/env bash
# End-to-end comparison on one generated dump, in one run: `wc -l` (the
# floor: touching every byte), the awk one-liners people use today, and
# ctreport (1 and 2 threads, top-ips, stdin, gzip). Wall time by hyperfine,
# peak memory by /usr/bin/time and RssAnon samples, ratios printed at the end.
#
#   benches/compare.sh            # 4M-line dump (~0.8 GB), full timing
#   benches/compare.sh --short    # 100k lines: correctness check + one timing
#   benches/compare.sh --flows N  # another size
#   benches/compare.sh --pairs N  # N paired rounds for the ratios (default 8, 0: none)
#   benches/compare.sh --baseline BIN  # also pair this build against another ctreport
#   benches/compare.sh --pgo      # time the PGO build (benches/pgo.sh), paired
#                                 # against the plain release build unless --baseline
#
# On a noisy machine (a VM with other tenants) medians taken minutes apart
# move more than the ratios they are compared by, so the ratios are also
# measured in pairs: A, B, B, A, run back to back, the ratio of the two
# sums; the median of the pairs' ratios is printed with their range.
#
# The dump is generated into target/bench/ (never committed) by ctgen,
# seed 1, /proc dialect. Needs hyperfine and GNU time (Debian packages
# `hyperfine` and `time`), and uses vmtouch (package `vmtouch`) to keep
# the dump in page cache; --short needs none of them.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."

flows=4000000
short=false
pairs=8
baseline=
pgo=false
while [ $# -gt 0 ]; do
    case "$1" in
        --short) short=true; flows=100000 ;;
        --flows) flows="$2"; shift ;;
        --pairs) pairs="$2"; shift ;;
        --baseline) # relative to where the script was started
            case "$2" in /*) baseline="$2" ;; *) baseline="$OLDPWD/$2" ;; esac
            shift ;;
        --pgo) pgo=true ;;
        -h|--help) sed -n '2,23p' "$self"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
case "$pairs" in
    ''|*[!0-9]*) echo "compare.sh: --pairs takes a number, not '$pairs'" >&2; exit 2 ;;
esac
if [ -n "$baseline" ] && [ ! -x "$baseline" ]; then
    echo "compare.sh: --baseline $baseline is not an executable file" >&2
    exit 2
fi

cargo build --release --quiet -p ctreport-cli -p ctgen
ctreport=target/release/ctreport
if $pgo; then
    benches/pgo.sh
    ctreport=target/pgo/ctreport
    baseline=${baseline:-$PWD/target/release/ctreport}
fi
echo "ctreport under test: $ctreport${baseline:+, baseline: $baseline}"
dir=target/bench
mkdir -p "$dir"
dump="$dir/dump-$flows.txt"
if [ ! -s "$dump" ]; then
    target/release/ctgen --flows "$flows" --seed 1 --dialect proc > "$dump.tmp"
    mv "$dump.tmp" "$dump"
fi
if [ ! -s "$dump.gz" ] || [ "$dump.gz" -ot "$dump" ]; then
    gzip -1 -c "$dump" > "$dump.gz"
fi
cat "$dump" > /dev/null # page cache

bytes=$(stat -c %s "$dump")
lines=$(wc -l < "$dump")
echo "dump: $dump, $lines lines, $bytes bytes"

# The one-liners. Positional fields assume the /proc layout of TCP lines
# (`$6` is the state, `$7` the source): on UDP and ICMP lines they read
# the wrong column, which is how such one-liners silently miscount.
awk_protocols='{n[$3]++} END {for (p in n) print p, n[p]}'
awk_states='$3 == "tcp" {n[$6]++} END {for (s in n) print s, n[s]}'
awk_sources_cmd="awk '{print \$7}' $dump | cut -d= -f2 | sort | uniq -c | sort -nr | head"

# --- correctness: ctreport against an independent count -----------------
"$ctreport" summary --format json -n 0 --quiet "$dump" > "$dir/summary-$flows.json"
python3 - "$dump" "$dir/summary-$flows.json" <<'EOF'
import collections, ipaddress, json, sys
report = json.load(open(sys.argv[2]))
protocols, states, sources = collections.Counter(), collections.Counter(), collections.Counter()
with open(sys.argv[1]) as dump:
    for line in dump:
        fields = line.split()
        protocols[fields[2]] += 1
        if fields[2] == "tcp" and not fields[5].startswith("src="):
            states[fields[5]] += 1
        # The original source is the first src= on the line, wherever it is.
        sources[str(ipaddress.ip_address(next(f for f in fields if f.startswith("src="))[4:]))] += 1
ours = collections.Counter()
for r in report["protocols"]:
    ours[r["protocol"]] += r["count"]
assert ours == protocols, f"protocols differ: {ours} vs {protocols}"
tcp = collections.Counter({r["state"]: r["count"] for r in report["tcp_states"]})
assert tcp == states, f"TCP states differ: {tcp} vs {states}"
top = {r["address"]: r["count"] for r in report["top_sources"]}
assert top == dict(sources), "source counts differ"
assert report["totals"]["flows"] == sum(protocols.values())
print(f"correctness: protocols, TCP states and {len(sources)} source counts match an independent count")
EOF

if $short; then
    start=$(date +%s.%N)
    "$ctreport" summary --quiet "$dump" > /dev/null
    "$ctreport" summary --quiet - < "$dump" > /dev/null
    "$ctreport" summary --quiet "$dump.gz" > /dev/null
    end=$(date +%s.%N)
    echo "short mode: summary (mapped, stdin, gzip) in $(python3 -c "print(f'{$end - $start:.2f}')") s"
    exit 0
fi

# --- timing ----------------------------------------------------------------
# Keep both dumps in page cache while timing. A VM may page out cold memory
# on its own (the project machine runs DAMON's proactive reclaim), which
# would put disk reads into the figures; vmtouch locks the pages until the
# script ends.
if command -v vmtouch > /dev/null; then
    vmtouch -q -l -d -P "$dir/vmtouch.pid" "$dump" "$dump.gz"
    trap 'kill "$(cat "$dir/vmtouch.pid")" 2> /dev/null; rm -f "$dir/vmtouch.pid"' EXIT
else
    echo "compare.sh: no vmtouch (Debian package vmtouch): the dump may leave page cache between runs" >&2
fi
results="$dir/compare-$flows.json"
hyperfine --style basic --warmup 1 --runs 5 --export-json "$results" \
    -n "wc -l" "wc -l $dump" \
    -n "awk protocols" "awk '$awk_protocols' $dump" \
    -n "awk tcp states" "awk '$awk_states' $dump" \
    -n "awk top sources" "$awk_sources_cmd" \
    -n "ctreport summary, 1 thread" "$ctreport summary --quiet --threads 1 $dump" \
    -n "ctreport summary, 2 threads" "$ctreport summary --quiet --threads 2 $dump" \
    -n "ctreport top-ips" "$ctreport top-ips --quiet $dump" \
    -n "ctreport check (parse only), 1 thread" "$ctreport check --quiet --threads 1 $dump" \
    -n "ctreport summary, stdin" "$ctreport summary --quiet - < $dump" \
    -n "ctreport summary, gzip" "$ctreport summary --quiet $dump.gz" \
    > /dev/null

peak() { # peak resident memory in MB of a command line
    /usr/bin/time -f '%M' bash -c "$1 > /dev/null" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1 / 1024}'
}
anon() { # peak anonymous memory (RssAnon) in MB of a command, sampled every 20 ms
    bash -c "exec $1" > /dev/null &
    local pid=$! max=0 kb
    while kill -0 "$pid" 2> /dev/null; do
        kb=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
        if [ -n "$kb" ] && [ "$kb" -gt "$max" ]; then max=$kb; fi
        sleep 0.02
    done
    wait "$pid"
    echo $((max / 1024))
}
mem_mapped=$(peak "$ctreport summary --quiet $dump")
mem_stdin=$(peak "$ctreport summary --quiet - < $dump")
mem_gzip=$(peak "$ctreport summary --quiet $dump.gz")
anon_1=$(anon "$ctreport summary --quiet --threads 1 $dump")
anon_2=$(anon "$ctreport summary --quiet --threads 2 $dump")

python3 - "$results" "$bytes" "$lines" "$mem_mapped" "$mem_stdin" "$mem_gzip" "$anon_1" "$anon_2" <<'EOF'
import json, sys
results, size, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mem_mapped, mem_stdin, mem_gzip, anon_1, anon_2 = sys.argv[4:9]
t = {r["command"]: r["median"] for r in json.load(open(results))["results"]}
print(f"\n| command | median s | GB/s | Mlines/s |")
print("|---|---:|---:|---:|")
for name, secs in t.items():
    print(f"| {name} | {secs:.3f} | {size / secs / 1e9:.2f} | {lines / secs / 1e6:.2f} |")
awk3 = t["awk protocols"] + t["awk tcp states"] + t["awk top sources"]
s1, s2 = t["ctreport summary, 1 thread"], t["ctreport summary, 2 threads"]
print()
print(f"summary (2 threads) / wc -l:              {s2 / t['wc -l']:.2f}x   (target <= 3x)")
print(f"three awk one-liners / summary (2 thr.):  {awk3 / s2:.1f}x   (target >= 30x)")
print(f"summary 1 thread / 2 threads:             {s1 / s2:.2f}x   (target >= 1.8x)")
print(f"summary throughput, 1 thread:             {size / s1 / 1e9:.2f} GB/s (parse + aggregate)")
parse = t["ctreport check (parse only), 1 thread"]
print(f"parse-only throughput (check), 1 thread:  {size / parse / 1e9:.2f} GB/s (target 1 GB/s per core)")
print(f"peak RSS: mapped {mem_mapped} MB (includes the file's mapped pages), stdin {mem_stdin} MB, gzip {mem_gzip} MB (target <= 64 MB)")
print(f"anonymous memory, mapped file: {anon_1} MB with 1 thread, {anon_2} MB with 2 (target <= 64 MB + distinct keys)")
EOF

[ "$pairs" -gt 0 ] || exit 0
# --- paired ratios -----------------------------------------------------------
echo
echo "paired ratios ($pairs pairs each: A, B, B, A; median of (B1 + B2) / (A1 + A2), range):"
comparisons=(
    "summary (2 threads) / wc -l" "wc -l $dump" "$ctreport summary --quiet --threads 2 $dump" "target <= 3x"
    "summary 1 thread / 2 threads" "$ctreport summary --quiet --threads 2 $dump" "$ctreport summary --quiet --threads 1 $dump" "target >= 1.8x"
    "check (parse only) 1 thread / 2 threads" "$ctreport check --quiet --threads 2 $dump" "$ctreport check --quiet --threads 1 $dump" ""
)
if [ -n "$baseline" ]; then
    for args in "summary --threads 1" "summary --threads 2" "top-ips" "check --threads 1"; do
        comparisons+=("this build / baseline, $args" "$baseline $args --quiet $dump" "$ctreport $args --quiet $dump" "")
    done
fi
python3 - "$pairs" "${comparisons[@]}" <<'EOF'
import statistics, subprocess, sys, time

def run(command):
    start = time.perf_counter()
    done = subprocess.run(command, shell=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"compare.sh: `{command}` failed with status {done.returncode}:\n"
                 + done.stderr.decode(errors="replace"))
    return elapsed

pairs, rest = int(sys.argv[1]), sys.argv[2:]
for i in range(0, len(rest), 4):
    name, a, b, target = rest[i:i + 4]
    ratios = []
    for _ in range(pairs):
        a1, b1, b2, a2 = run(a), run(b), run(b), run(a)
        ratios.append((b1 + b2) / (a1 + a2))
    note = f"   ({target})" if target else ""
    print(f"  {name + ':':42} {statistics.median(ratios):.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}){note}")
EOF
