#!/usr/bin/env bash
# The lab's headline figure: `weft lab run` with 500 peers and 10,000 changes (see
# BENCHMARKS.md, "Lab"). Builds the CLI (`cargo build --release -p weft-cli`), runs it RUNS
# times (default 3) and prints each run's wall time, peak RSS (GNU time at /usr/bin/time) and
# whether it converged, then the medians.
# With BASE=/path/to/another/weft, runs that binary too, alternating with this one (these
# machines are noisy), and prints the ratio of the medians.
# PEERS and CHANGES (default 500 and 10000) make a smaller run for a quick check.
#
#   bench/lab.sh                                  # from the repository root
#   RUNS=5 BASE=/tmp/weft-old bench/lab.sh
#   RUNS=1 PEERS=50 CHANGES=1000 bench/lab.sh     # a quick check that it runs
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p weft-cli
weft=target/release/weft
runs=${RUNS:-3}
peers=${PEERS:-500}
changes=${CHANGES:-10000}
args=(--json lab run --peers "$peers" --changes "$changes" --write-rate 1000 --writers 10)

echo "machine: $(nproc) CPUs (nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "weft $(git rev-parse --short HEAD)$( [ -n "$(git status --porcelain)" ] && echo ' (dirty)' || true): ${weft} ${args[*]}"

# One run of binary $1: prints "WALL_SECONDS PEAK_RSS_KB CONVERGED" (the peak is "-" without
# GNU time; CONVERGED is what the JSON report says, "?" if it says nothing).
one() {
    local start end out report rss conv
    out=$(mktemp)
    report=$(mktemp)
    echo "  load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    start=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$out" "$1" "${args[@]}" >"$report"
        rss=$(tail -n 1 "$out")
    else
        "$1" "${args[@]}" >"$report"
        rss=-
    fi
    end=$(date +%s.%N)
    conv=$(grep -o '"converged_runs":[0-9]*' "$report" | head -n 1 | cut -d: -f2)
    rm -f "$out" "$report"
    awk -v a="$start" -v b="$end" -v r="$rss" -v c="${conv:-?}" 'BEGIN { printf "%.1f %s %s\n", b - a, r, c }'
}

median() {
    sort -n | awk '$1 == "-" { none = 1 } { v[NR] = $1 }
        END { if (none) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

gb() {
    awk '{ if ($1 == "-") print "-"; else printf "%.2f GB\n", $1 / 1048576 }'
}

new=() new_rss=() base=() base_rss=()
for i in $(seq "$runs"); do
    read -r t r c < <(one "$weft")
    new+=("$t") new_rss+=("$r")
    echo "run $i: this build ${t} s, peak RSS $(echo "$r" | gb), converged runs: $c"
    if [ -n "${BASE:-}" ]; then
        read -r t r c < <(one "$BASE")
        base+=("$t") base_rss+=("$r")
        echo "run $i: BASE ${t} s, peak RSS $(echo "$r" | gb), converged runs: $c"
    fi
done
m=$(printf '%s\n' "${new[@]}" | median)
echo "median, this build: ${m} s, peak RSS $(printf '%s\n' "${new_rss[@]}" | median | gb)"
if [ -n "${BASE:-}" ]; then
    b=$(printf '%s\n' "${base[@]}" | median)
    echo "median, BASE: ${b} s, peak RSS $(printf '%s\n' "${base_rss[@]}" | median | gb)"
    echo "BASE / this build: $(awk -v a="$b" -v b="$m" 'BEGIN { printf "%.2f\n", a / b }')"
fi
