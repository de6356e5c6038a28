#!/usr/bin/env bash
# Builds ctreport with profile-guided optimization into target/pgo/ctreport:
# a build that counts what runs, a training run of every command over
# generated dumps and the fixtures, then a build laid out by those counts.
# Same code, same output, about 8% less time for `summary` and 14% for
# `check` on the benchmark dump (benches/RESULTS.md, "Session 19").
#
#   benches/pgo.sh            # build target/pgo/ctreport
#   benches/pgo.sh --check    # then check it prints what the plain build prints
#
# Needs rustup's llvm-tools component, whose llvm-profdata matches the
# compiler's LLVM: `rustup component add llvm-tools`. The training dumps
# use seeds other than the benchmark's (seed 1), so compare.sh does not
# time the data the build was trained on.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."

check=false
while [ $# -gt 0 ]; do
    case "$1" in
        --check) check=true ;;
        -h|--help) sed -n '2,14p' "$self"; exit 0 ;;
        *) echo "pgo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
    echo "pgo.sh: no $profdata; install it with: rustup component add llvm-tools" >&2
    exit 2
fi
if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
    # It would take precedence over the RUSTFLAGS set below.
    echo "pgo.sh: CARGO_ENCODED_RUSTFLAGS is set; unset it (or put its flags in RUSTFLAGS)" >&2
    exit 2
fi

dir=$PWD/target/pgo
profiles=$dir/profiles
train=$dir/train
rm -rf "$profiles" "$train"
mkdir -p "$profiles" "$train"
# The training dumps (a few hundred MB) and the raw profiles are not kept.
trap 'rm -rf "$train" "$profiles"' EXIT

# RUSTFLAGS takes the place of any `build.rustflags` of a cargo config;
# the caller's own RUSTFLAGS are kept. With `--target`, the flags reach
# ctreport and its dependencies only, not build scripts and proc macros
# (which would write profiles of their own while they run).
flags=${RUSTFLAGS:-}
echo "pgo.sh: instrumented build" >&2
cargo build --release --quiet -p ctgen
RUSTFLAGS="$flags -Cprofile-generate=$profiles" \
    cargo build --release --quiet -p ctreport-cli --target "$host" --target-dir "$dir/instrumented"
counting=$dir/instrumented/$host/release/ctreport

echo "pgo.sh: training run" >&2
target/release/ctgen --flows 400000 --seed 7 --dialect proc > "$train/proc.txt"
target/release/ctgen --flows 100000 --seed 8 --dialect conntrack > "$train/conntrack.txt"
target/release/ctgen --flows 100000 --seed 9 --dialect extended > "$train/extended.txt"
target/release/ctgen --flows 100000 --seed 10 --syn-flood > "$train/flood.txt"
gzip -1 -c "$train/conntrack.txt" > "$train/conntrack.txt.gz"
commands=(
    "summary --threads 1" "summary --threads 2" "summary --format json -n 0" "top-ips"
    "top-ips --by dst --prefix 24" "protocols" "states" "top-ports" "dnat" "snat"
    "check --threads 1" "check --threads 2" "flows --format csv" "flows --format json" "doctor"
)
for file in "$train"/proc.txt "$train"/conntrack.txt "$train"/extended.txt "$train"/flood.txt; do
    for command in "${commands[@]}"; do
        # shellcheck disable=SC2086 # a command and its options
        if ! "$counting" $command --quiet "$file" > /dev/null 2> "$train/stderr"; then
            echo "pgo.sh: training run \`ctreport $command $file\` failed:" >&2
            cat "$train/stderr" >&2
            exit 1
        fi
    done
done
"$counting" summary --quiet - < "$train/proc.txt" > /dev/null
"$counting" summary --quiet "$train/conntrack.txt.gz" > /dev/null
"$counting" diff --quiet "$train/conntrack.txt" "$train/extended.txt" > /dev/null
# The fixtures: every dialect and the malformed lines (their exit status
# says so; only the counts matter here).
find fixtures -name '*.txt' -print0 | while IFS= read -r -d '' file; do
    "$counting" summary --quiet "$file" > /dev/null 2>&1 || true
    "$counting" check --quiet "$file" > /dev/null 2>&1 || true
done
"$profdata" merge -o "$dir/merged.profdata" "$profiles"

echo "pgo.sh: optimized build" >&2
RUSTFLAGS="$flags -Cprofile-use=$dir/merged.profdata" \
    cargo build --release --quiet -p ctreport-cli --target "$host" --target-dir "$dir/build"
cp "$dir/build/$host/release/ctreport" "$dir/ctreport"
echo "pgo.sh: built $dir/ctreport" >&2

$check || exit 0
# The same program, laid out differently: its output must be the plain
# build's, byte for byte, on every fixture dump (plain and compressed)
# and on a dump it was not trained on.
cargo build --release --quiet -p ctreport-cli
target/release/ctgen --flows 100000 --seed 11 --dialect conntrack > "$train/held-out.txt"
inputs=()
while IFS= read -r -d '' file; do
    inputs+=("$file")
done < <(find fixtures "$train/held-out.txt" \( -name '*.txt' -o -name '*.zst' \) -print0)
if [ "${#inputs[@]}" -lt 10 ]; then
    echo "pgo.sh: only ${#inputs[@]} inputs to compare on (fixtures/ missing?)" >&2
    exit 1
fi
compared=0
for file in "${inputs[@]}"; do
    for command in "summary --format json -n 0" "doctor --format json" "check" "flows --format csv"; do
        # shellcheck disable=SC2086
        plain=$(target/release/ctreport $command "$file" 2>&1; echo "exit $?")
        # shellcheck disable=SC2086
        pgo=$("$dir/ctreport" $command "$file" 2>&1; echo "exit $?")
        if [ "$plain" != "$pgo" ]; then
            echo "pgo.sh: \`ctreport $command $file\` differs between the plain and the PGO build" >&2
            exit 1
        fi
        compared=$((compared + 1))
    done
done
echo "pgo.sh: the PGO build printed what the plain build printed in $compared runs (${#inputs[@]} inputs)" >&2
