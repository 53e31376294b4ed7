#!/usr/bin/env bash
# The lab's headline figure: `weft lab run` with 500 peers and 10,000 changes (see
# BENCHMARKS.md, "Lab"). Runs it RUNS times (default 3) and prints each wall time (and peak
# memory, where GNU time is installed at /usr/bin/time) and the median.
# With BASE=/path/to/another/weft, runs that binary too, alternating with this one (these
# machines are noisy), and prints the ratio of the medians.
#
#   bench/lab.sh                                  # from the repository root
#   RUNS=5 BASE=/tmp/weft-old bench/lab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p weft-cli
weft=target/release/weft
runs=${RUNS:-3}
args=(--json lab run --peers 500 --changes 10000 --write-rate 1000 --writers 10)

# Wall seconds of one run of binary $1 (the report goes to /dev/null); the peak RSS goes to
# stderr when GNU time is there to measure it.
one() {
    local start end out
    out=$(mktemp)
    start=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$out" "$1" "${args[@]}" >/dev/null
        awk '{ printf "  peak RSS %.2f GB\n", $1 / 1048576 }' "$out" >&2
    else
        "$1" "${args[@]}" >/dev/null
    fi
    end=$(date +%s.%N)
    rm -f "$out"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }'
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

new=() base=()
for i in $(seq "$runs"); do
    t=$(one "$weft"); new+=("$t"); echo "run $i: this build ${t} s"
    if [ -n "${BASE:-}" ]; then
        t=$(one "$BASE"); base+=("$t"); echo "run $i: BASE ${t} s"
    fi
done
m=$(printf '%s\n' "${new[@]}" | median)
echo "median, this build: ${m} s"
if [ -n "${BASE:-}" ]; then
    b=$(printf '%s\n' "${base[@]}" | median)
    echo "median, BASE: ${b} s"
    echo "BASE / this build: $(awk -v a="$b" -v b="$m" 'BEGIN { printf "%.2f\n", a / b }')"
fi
