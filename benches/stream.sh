#!/usr/bin/env bash
# How a stream of BoTs costs as it grows: `spequlos sim --workload stream:FILE --timing` (the
# stream without and with 9C-G-R, one after the other) on 10,000 seti hosts over 60 days, for
# streams of 10, 100 and 1000 BoTs of 100 to 1000 tasks (3.6e6 ops) from 20 users, Poisson
# arrivals every 30 minutes on average (from a fixed-seed generator). Prints BoTs, tasks,
# events, engine time and events per second; each the best of $REPS runs (default 3).
#
#   benches/stream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-3}
cargo build --release -q
spq=target/release/spequlos
dir=target/stream-bench
mkdir -p "$dir"
printf '%-6s %-8s | %10s %9s %8s | %s\n' bots tasks events "engine s" "M ev/s" "makespan h (none / speq)"
for n in 10 100 1000; do
    f=$dir/stream-$n.txt
    [ -f "$f" ] || python3 - "$n" > "$f" <<'PY'
import random, sys
n = int(sys.argv[1])
r = random.Random(n)
t = 0.0
for i in range(n):
    print(int(t), f"u{r.randrange(20)}", r.randrange(100, 1001), 3.6e6)
    t += r.expovariate(1 / 1800)
PY
    best=""
    for _ in $(seq "$reps"); do
        "$spq" sim --preset seti --hosts 10000 --days 60 --workload "stream:$f" --strategy 9C-G-R \
            --timing --json --quiet > "$dir/out-$n.json" 2> "$dir/err-$n.txt"
        e=$(sed -nE 's/^timing: .*engine ([0-9.]+) s.*/\1/p' "$dir/err-$n.txt")
        if [ -z "$best" ] || awk -v a="$e" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$e; fi
    done
    python3 - "$n" "$dir" "$best" <<'PY'
import json, re, sys
n, d, eng = sys.argv[1], sys.argv[2], float(sys.argv[3])
j = json.load(open(f"{d}/out-{n}.json"))
err = open(f"{d}/err-{n}.txt").read()
ev = int(re.search(r"([0-9]+) events", err).group(1))
mk = lambda v: "unfinished" if v is None else f"{v / 3600:.1f}"
print(f"{n:<6} {j['tasks']:<8} | {ev:10d} {eng:9.3f} {ev / eng / 1e6:8.2f} | "
      f"{mk(j['baseline_makespan'])} / {mk(j['speq_makespan'])}")
PY
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); best of $reps; events: both runs"
