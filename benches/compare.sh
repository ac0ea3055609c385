#!/usr/bin/env bash
# Speed comparison of spequlos (`--middleware ideal-pull`) and a tuned SimGrid 3.32 program
# (benches/simgrid/master_workers.cpp) on identical inputs: N single-core hosts replaying the
# same seti-simple availability (one SimGrid-format directory read by both), M tasks of 3.6e5
# operations pulled master-worker style. The makespans must agree before speed is compared.
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

# Peak RSS (MB) and wall seconds from GNU time's -v report.
rss() { awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }
wall() { awk '/Elapsed \(wall clock\)/ {n=split($NF,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.3f", s}' "$1"; }

printf '%-7s %-7s | %-20s %-20s %-6s | %9s %9s %10s %8s | %9s %9s %8s | %8s %8s\n' \
    hosts tasks "makespan spequlos" "makespan SimGrid" agree \
    "spq eng s" "spq tot s" "spq ev/s" "spq MB" "sg eng s" "sg tot s" "sg MB" "x total" "x engine"
for n in $sizes_n; do
    trace=target/compare/trace-$n
    [ -f "$trace/meta.json" ] || "$spq" -q trace gen --preset seti-simple --hosts "$n" --days 30 --seed 1 --format simgrid -o "$trace"
    # Both programs read the files from the page cache: whoever ran first would otherwise pay
    # for the disk.
    find "$trace" -type f -exec cat {} + > /dev/null
    for m in $sizes_m; do
        jobs=target/compare/jobs-$m.txt
        [ -f "$jobs" ] || awk -v m="$m" -v ops="$ops" 'BEGIN { for (i = 0; i < m; i++) print 0, ops }' > "$jobs"
        out=target/compare/n$n-m$m
        /usr/bin/time -v "$spq" sim --trace "$trace" --middleware ideal-pull --workload "$jobs" --json --timing \
            > "$out.spq.json" 2> "$out.spq.err"
        sq_make=$(sed -E 's/.*"makespan":([^,]*),.*/\1/' "$out.spq.json")
        sq_events=$(sed -E 's/.*"events":([0-9]+).*/\1/' "$out.spq.json")
        sq_eng=$(sed -nE 's/^timing: .*engine ([0-9.]+) s.*/\1/p' "$out.spq.err")
        if timeout 3600 /usr/bin/time -v "$mw" "$trace" "$m" "$ops" "${cfg[@]}" > "$out.sg.txt" 2> "$out.sg.err"; then
            sg_make=$(awk '{print $2}' "$out.sg.txt")
            sg_eng=$(awk '{print $6}' "$out.sg.txt")
        else
            sg_make="failed"; sg_eng="nan"
        fi
        agree=$(python3 -c "
a, b = '$sq_make', '$sg_make'
try:
    x, y = float(a), float(b)
    # %.17g and Rust's shortest form print one double differently; compare the numbers.
    print('exact' if x == y else ('~1e-12' if abs(x - y) <= 1e-12 * max(abs(x), 1) else 'NO'))
except ValueError:
    print('NO')")
        python3 - "$n" "$m" "$sq_make" "$sg_make" "$agree" "$sq_eng" "$(wall "$out.spq.err")" "$sq_events" \
            "$(rss "$out.spq.err")" "$sg_eng" "$(wall "$out.sg.err")" "$(rss "$out.sg.err")" <<'PY'
import sys
n, m, sqm, sgm, agree, sqe, sqt, ev, sqr, sge, sgt, sgr = sys.argv[1:]
f = lambda x: float(x) if x not in ("", "nan", "failed") else float("nan")
evs = int(ev) / max(f(sqe), 1e-9)
ratio = lambda a, b: f"{f(a) / max(f(b), 1e-9):8.1f}"
print(f"{n:<7} {m:<7} | {sqm:<20.20} {sgm:<20.20} {agree:<6} | {f(sqe):9.4f} {f(sqt):9.3f} {evs:10.3g} {f(sqr):8.1f} | "
      f"{f(sge):9.4f} {f(sgt):9.3f} {f(sgr):8.1f} | {ratio(sgt, sqt)} {ratio(sge, sqe)}")
PY
    done
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); SimGrid $(dpkg-query -W -f='${Version}' libsimgrid-dev)"
echo "events = spequlos model events (host on/off, task submissions and completions); ev/s = events / engine time"
