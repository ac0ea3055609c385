#!/usr/bin/env bash
# How the full models' cost grows with the grid and the BoT: `spequlos sim --timing` (one
# baseline + SpeQuloS pair, 9C-G-D, the two runs on two threads) for hosts in {1k, 10k, 100k,
# 1M} x tasks in {1k, 100k, 1M} x {BOINC, XWHEP}, on a 30-day seti-simple trace read from
# spequlos' binary file, tasks of 3.6e5 operations all submitted at t = 0. Prints the trace
# loading and engine times, the events of both runs, events per second of engine time, the
# wall time of the whole process and its peak RSS.
#
#   benches/scale.sh           the whole table (a few minutes)
#   benches/scale.sh --quick   hosts in {1k, 10k, 100k}, tasks in {1k, 100k}
set -euo pipefail
cd "$(dirname "$0")/.."

sizes_n="1000 10000 100000 1000000"
sizes_m="1000 100000 1000000"
if [ "${1:-}" = "--quick" ]; then
    sizes_n="1000 10000 100000"
    sizes_m="1000 100000"
fi

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
need_pkgs time

cargo build --release -q
spq=target/release/spequlos
dir=target/scale
mkdir -p "$dir"

printf '%-8s %-8s %-6s | %8s %8s %10s %7s | %7s %7s | %s\n' \
    hosts tasks model "trace s" "engine s" events "M ev/s" "wall s" "RSS MB" finished
for n in $sizes_n; do
    bin=$dir/bin-$n
    [ -f "$bin/trace.bin" ] || "$spq" -q trace gen --preset seti-simple --hosts "$n" --days 30 --seed 1 --format bin -o "$bin"
    cat "$bin"/* > /dev/null
    for m in $sizes_m; do
        jobs=$dir/jobs-$m.txt
        [ -f "$jobs" ] || awk -v m="$m" 'BEGIN { for (i = 0; i < m; i++) print 0, 360000 }' > "$jobs"
        for mw in boinc xwhep; do
            out=$dir/n$n-m$m-$mw
            /usr/bin/time -f "%e %M" -o "$out.time" "$spq" sim --trace "$bin" --middleware "$mw" \
                --strategy 9C-G-D --workload "$jobs" --timing --json --quiet > "$out.json" 2> "$out.err"
            python3 - "$n" "$m" "$mw" "$out" <<'PY'
import json, re, sys
n, m, mw, out = sys.argv[1:]
t = re.search(r"timing: trace ([0-9.]+) s, engine ([0-9.]+) s, ([0-9]+) events", open(out + ".err").read())
trace_s, engine_s, events = float(t[1]), float(t[2]), int(t[3])
wall, rss_kb = open(out + ".time").read().split()[-2:]
j = json.load(open(out + ".json"))
done = "/".join("yes" if (j[k] or {}).get("completed") else "no" for k in ("baseline_times", "speq_times"))
print(f"{n:<8} {m:<8} {mw:<6} | {trace_s:8.3f} {engine_s:8.3f} {events:10d} {events / max(engine_s, 1e-9) / 1e6:7.2f} | "
      f"{float(wall):7.2f} {int(rss_kb) / 1024:7.0f} | {done}")
PY
        done
    done
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "events: both runs of the pair; M ev/s = events / engine time; finished: baseline/SpeQuloS BoT done within the trace"
