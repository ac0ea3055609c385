#!/usr/bin/env bash
# Speed comparison of spequlos (`--middleware ideal-pull`) and a tuned SimGrid 3.32 program
# (benches/simgrid/master_workers.cpp) on identical inputs: N single-core hosts replaying the
# same seti-simple availability, M tasks of 3.6e5 operations pulled master-worker style. Each
# size runs twice, both programs reading the same input each time: `profiles`, the SimGrid
# directory of per-host state profiles (SimGrid parses them itself), and `bin`, the same trace
# converted to spequlos' binary file (SimGrid builds the same profiles from it with
# ProfileBuilder::from_callback, no text). The makespans must agree before speed is compared.
#
#   benches/compare.sh            N, M in {1k, 10k, 100k}
#   benches/compare.sh --quick    N, M in {1k, 10k}  (a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

sizes_n="1000 10000 100000"
sizes_m="1000 10000 100000"
if [ "${1:-}" = "--quick" ]; then
    sizes_n="1000 10000"
    sizes_m="1000 10000"
fi

need_pkgs() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
need_pkgs libsimgrid-dev g++ time

cargo build --release -q
mkdir -p target/compare
mw=target/simgrid-master-workers
g++ -O2 -std=c++17 -o "$mw" benches/simgrid/master_workers.cpp -lsimgrid
spq=target/release/spequlos
ops=360000
cfg=(--log=root.thres:critical --cfg=contexts/stack-size:16 --cfg=contexts/guard-size:0)

# Peak RSS (MB) from GNU time's -v report.
rss() { awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }
# Runs a command three times with stdout to $1.out and stderr to $1.err (the last run's), then
# once more under GNU time for the peak RSS ($1.time); prints the best wall time in seconds.
# Timing apart from GNU time: its 10 ms resolution and its own fork and exec would swamp the
# few milliseconds of the small sizes.
best_of_3() {
    local out=$1; shift
    local best=
    for _ in 1 2 3; do
        local t0=$EPOCHREALTIME
        "$@" > "$out.out" 2> "$out.err" || return 1
        local t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }')
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
        cat "$out.err" >> "$out.errs"
        cat "$out.out" >> "$out.outs"
    done
    /usr/bin/time -v "$@" > /dev/null 2> "$out.time" || return 1
    echo "$best"
}
min() { sort -g | head -1; }

printf '%-7s %-7s %-8s | %-20s %-20s %-6s | %9s %9s %10s %8s | %9s %9s %8s | %8s %8s\n' \
    hosts tasks input "makespan spequlos" "makespan SimGrid" agree \
    "spq eng s" "spq tot s" "spq ev/s" "spq MB" "sg eng s" "sg tot s" "sg MB" "x total" "x engine"
for n in $sizes_n; do
    trace=target/compare/trace-$n
    [ -f "$trace/meta.json" ] || "$spq" -q trace gen --preset seti-simple --hosts "$n" --days 30 --seed 1 --format simgrid -o "$trace"
    bin=target/compare/bin-$n
    [ -f "$bin/trace.bin" ] || "$spq" -q trace convert "$trace" "$bin" --to bin
    # Both programs read the files from the page cache: whoever ran first would otherwise pay
    # for the disk.
    find "$trace" "$bin" -type f -exec cat {} + > /dev/null
    for m in $sizes_m; do
        jobs=target/compare/jobs-$m.txt
        [ -f "$jobs" ] || awk -v m="$m" -v ops="$ops" 'BEGIN { for (i = 0; i < m; i++) print 0, ops }' > "$jobs"
        for input in profiles bin; do
            src=$trace; [ "$input" = bin ] && src=$bin
            out=target/compare/n$n-m$m-$input
            rm -f "$out".*
            sq_tot=$(best_of_3 "$out.spq" "$spq" sim --trace "$src" --middleware ideal-pull --workload "$jobs" --json --timing)
            sq_make=$(sed -E 's/.*"makespan":([^,]*),.*/\1/' "$out.spq.out")
            sq_events=$(sed -E 's/.*"events":([0-9]+).*/\1/' "$out.spq.out")
            sq_eng=$(sed -nE 's/^timing: .*engine ([0-9.]+) s.*/\1/p' "$out.spq.errs" | min)
            if sg_tot=$(best_of_3 "$out.sg" "$mw" "$src" "$m" "$ops" "${cfg[@]}"); then
                sg_make=$(awk '{print $2}' "$out.sg.out")
                sg_eng=$(awk '{print $6}' "$out.sg.outs" | min)
            else
                sg_make="failed"; sg_eng="nan"; sg_tot="nan"
            fi
            agree=$(python3 -c "
a, b = '$sq_make', '$sg_make'
try:
    x, y = float(a), float(b)
    # %.17g and Rust's shortest form print one double differently; compare the numbers.
    print('exact' if x == y else ('~1e-12' if abs(x - y) <= 1e-12 * max(abs(x), 1) else 'NO'))
except ValueError:
    print('NO')")
            python3 - "$n" "$m" "$input" "$sq_make" "$sg_make" "$agree" "$sq_eng" "$sq_tot" "$sq_events" \
                "$(rss "$out.spq.time")" "$sg_eng" "$sg_tot" "$(rss "$out.sg.time")" <<'PY'
import sys
n, m, inp, sqm, sgm, agree, sqe, sqt, ev, sqr, sge, sgt, sgr = sys.argv[1:]
f = lambda x: float(x) if x not in ("", "nan", "failed") else float("nan")
evs = int(ev) / max(f(sqe), 1e-9)
ratio = lambda a, b: f"{f(a) / max(f(b), 1e-9):8.1f}"
print(f"{n:<7} {m:<7} {inp:<8} | {sqm:<20.20} {sgm:<20.20} {agree:<6} | {f(sqe):9.4f} {f(sqt):9.4f} {evs:10.3g} {f(sqr):8.1f} | "
      f"{f(sge):9.4f} {f(sgt):9.4f} {f(sgr):8.1f} | {ratio(sgt, sqt)} {ratio(sge, sqe)}")
PY
        done
    done
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); SimGrid $(dpkg-query -W -f='${Version}' libsimgrid-dev)"
echo "input: profiles = SimGrid state-profile directory, bin = spequlos trace.bin (same trace); eng, tot = best of 3 runs (tot: wall time of the whole process)"
echo "events = spequlos model events (host on/off, task submissions and completions); ev/s = events / engine time"
