#!/usr/bin/env bash
# How the full models' cost grows with the grid and the BoT: `spequlos sim --timing` (one
# baseline + SpeQuloS pair, 9C-G-D, the two runs whole, one after the other) for hosts in
# {1k, 10k, 100k, 1M} x tasks in {1k, 100k, 1M} x {BOINC, XWHEP}, on a 30-day seti-simple
# trace read from spequlos' binary file, tasks of 3.6e5 operations all submitted at t = 0. Prints the trace
# loading and engine times, the events of both runs, events per second of engine time, the
# wall time of the whole process and its peak RSS; each the best of $REPS runs (default 3: the
# figures of a shared machine wander by 20 %).
#
#   benches/scale.sh           the whole table (a few minutes)
#   benches/scale.sh --quick   hosts in {1k, 10k, 100k}, tasks in {1k, 100k}
set -euo pipefail
cd "$(dirname "$0")/.."

sizes_n="1000 10000 100000 1000000"
sizes_m="1000 100000 1000000"
reps=${REPS:-3}
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
            rm -f "$out.err" "$out.time"
            for _ in $(seq "$reps"); do
                /usr/bin/time -f "%e %M" -a -o "$out.time" "$spq" sim --trace "$bin" --middleware "$mw" \
                    --strategy 9C-G-D --workload "$jobs" --timing --json --quiet > "$out.json" 2>> "$out.err"
            done
            python3 - "$n" "$m" "$mw" "$out" <<'PY'
import json, re, sys
n, m, mw, out = sys.argv[1:]
runs = re.findall(r"timing: trace ([0-9.]+) s, engine ([0-9.]+) s, ([0-9]+) events", open(out + ".err").read())
trace_s = min(float(r[0]) for r in runs)
engine_s = min(float(r[1]) for r in runs)
events = int(runs[0][2])
times = [l.split() for l in open(out + ".time") if l.strip() and l.split()[0][0].isdigit()]
wall = min(float(t[0]) for t in times)
rss_kb = max(int(t[1]) for t in times)
j = json.load(open(out + ".json"))
done = "/".join("yes" if (j[k] or {}).get("completed") else "no" for k in ("baseline_times", "speq_times"))
print(f"{n:<8} {m:<8} {mw:<6} | {trace_s:8.3f} {engine_s:8.3f} {events:10d} {events / max(engine_s, 1e-9) / 1e6:7.2f} | "
      f"{wall:7.2f} {rss_kb / 1024:7.0f} | {done}")
PY
        done
    done
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "best of $reps runs; events: both runs of the pair; M ev/s = events / engine time; finished: baseline/SpeQuloS BoT done within the trace"
