// SimGrid 3.32 twin of spequlos' `ideal-pull` model, for a speed comparison on identical inputs.
//
//   master_workers TRACE TASKS OPS [--cfg=...]
//
// TRACE is either what `spequlos trace convert --to simgrid` writes (a directory with one
// `<host>.profile` state profile per host and `hosts.csv`: host,name,speed,cores), parsed by
// SimGrid's own profile reader, or what `--to bin` writes (`trace.bin`, the file or its
// directory), turned into the same state profiles with ProfileBuilder::from_callback and no text
// at all: the same input spequlos reads fastest, so that total times compare like with like.
// TASKS tasks of OPS operations are pulled master-worker style:
// - an idle ON host takes the first waiting task at once (shared memory, no network);
// - when a host goes OFF its task's work is lost and the task returns to the FRONT of the queue,
//   handed at once to the host idle the longest;
// - the makespan is the last completion.
//
// Tuned as SimGrid's fastest correct program for this model (facts measured with 3.32):
// - an empty zone: no routes are needed, and a full zone allocates an N×N route table;
// - a host that is OFF at t = 0 gets its worker when it first turns ON (a programmatic platform
//   cannot start a host OFF before workers take tasks at t = 0);
// - `sleep_for(ops / speed)` instead of `execute(ops)`: same semantics on a single-core host of
//   constant speed, without the per-execution state-change callback that leaks on failure;
// - one semaphore per worker, so handing a task to an idle worker is O(1);
// - the master waits with a timeout, so profile events keep being replayed while every worker
//   sleeps on its semaphore;
// - lost tasks are handled in the host state-change callback (maestro), not in the killed
//   worker's on_exit, from which waking another worker fails;
// - run with --cfg=contexts/stack-size:16 --cfg=contexts/guard-size:0 for 10^5 actors.
//
// Prints one line: makespan (%.17g), restarts, engine seconds, setup seconds.

#include <simgrid/kernel/ProfileBuilder.hpp>
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unordered_map>
#include <vector>

namespace sg4 = simgrid::s4u;

namespace {

struct State {
  std::vector<sg4::Host*> hosts;
  std::vector<double> speed;
  std::vector<sg4::SemaphorePtr> sem;   // one per worker
  std::vector<int> assigned;            // task handed to an idle worker, -1 if none
  std::vector<int> current;             // task a worker is running, -1 if none
  std::vector<bool> idle;               // worker is waiting on its semaphore
  std::vector<bool> launched;           // worker actor created
  std::deque<int> waiting;              // FIFO of tasks
  std::deque<int> idle_fifo;            // idle workers, longest idle first
  std::deque<int> to_launch;            // hosts whose first ON needs a worker
  sg4::SemaphorePtr launcher_sem;
  sg4::SemaphorePtr master_sem;
  double ops = 0;
  long total = 0;
  long done = 0;
  long restarts = 0;
  double makespan = 0;
};

State* S = nullptr;

// Hands waiting tasks to idle workers, longest idle first.
void dispatch() {
  while (!S->waiting.empty() && !S->idle_fifo.empty()) {
    int w = S->idle_fifo.front();
    S->idle_fifo.pop_front();
    if (!S->idle[w] || !S->hosts[w]->is_on())
      continue;  // went OFF while idle
    S->idle[w] = false;
    S->assigned[w] = S->waiting.front();
    S->waiting.pop_front();
    S->sem[w]->release();
  }
}

void worker(int h) {
  // A fresh start: a release or a hand-over meant for a dead incarnation must not leak.
  S->sem[h] = sg4::Semaphore::create(0);
  S->idle[h] = false;
  S->assigned[h] = -1;
  while (S->done < S->total) {
    int task;
    if (!S->waiting.empty()) {
      task = S->waiting.front();
      S->waiting.pop_front();
    } else {
      S->idle[h] = true;
      S->idle_fifo.push_back(h);
      S->sem[h]->acquire();
      task = S->assigned[h];
      S->assigned[h] = -1;
      if (task < 0)
        return;
    }
    S->current[h] = task;
    sg4::this_actor::sleep_for(S->ops / S->speed[h]);
    S->current[h] = -1;
    S->done++;
    S->makespan = sg4::Engine::get_clock();
    if (S->done == S->total)
      S->master_sem->release();
  }
}

// Creates the workers of hosts that were OFF at t = 0, at their first ON.
void launcher() {
  while (true) {
    S->launcher_sem->acquire();
    while (!S->to_launch.empty()) {
      int h = S->to_launch.front();
      S->to_launch.pop_front();
      if (S->launched[h] || !S->hosts[h]->is_on())
        continue;
      S->launched[h] = true;
      sg4::Actor::create("worker", S->hosts[h], worker, h)->set_auto_restart(true);
    }
  }
}

void master(double horizon) {
  while (S->done < S->total && sg4::Engine::get_clock() < horizon)
    S->master_sem->acquire_timeout(horizon - sg4::Engine::get_clock());
  if (S->done < S->total)
    S->makespan = std::numeric_limits<double>::quiet_NaN();
  sg4::Actor::kill_all();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::string s(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  return s;
}

// The columns of a spequlos binary trace (`trace.bin`, version 1; layout in
// traces/src/io/bin.rs). spequlos validates what it writes; this reader only checks the header.
struct BinTrace {
  std::vector<std::string> names;
  std::vector<double> speeds;
  std::vector<uint64_t> offsets;
  std::vector<int64_t> starts, ends;
};

BinTrace read_bin(const std::string& path) {
  std::string b = read_file(path);
  size_t at = 0;
  auto take = [&](void* out, size_t n) {
    if (n > b.size() - at)
      throw std::runtime_error(path + ": truncated");
    std::memcpy(out, b.data() + at, n);
    at += n;
  };
  auto pad = [&]() { at += (8 - at % 8) % 8; };
  char magic[8];
  uint32_t version, meta_len;
  take(magic, 8);
  take(&version, 4);
  take(&meta_len, 4);
  if (std::memcmp(magic, "SPQTRACE", 8) != 0 || version != 1)
    throw std::runtime_error(path + ": not a version 1 spequlos binary trace");
  at += meta_len;
  pad();
  uint64_t n, m;
  take(&n, 8);
  take(&m, 8);
  BinTrace t;
  std::vector<uint32_t> name_len(n);
  t.speeds.resize(n);
  for (uint64_t h = 0; h < n; h++) {
    uint64_t id;
    uint32_t cores;
    take(&id, 8);
    take(&t.speeds[h], 8);
    take(&cores, 4);
    take(&name_len[h], 4);
  }
  t.names.resize(n);
  for (uint64_t h = 0; h < n; h++) {
    t.names[h].resize(name_len[h]);
    take(t.names[h].data(), name_len[h]);
  }
  pad();
  t.offsets.resize(n + 1);
  t.starts.resize(m);
  t.ends.resize(m);
  take(t.offsets.data(), 8 * (n + 1));
  take(t.starts.data(), 8 * m);
  take(t.ends.data(), 8 * m);
  return t;
}

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

int main(int argc, char** argv) {
  auto t0 = std::chrono::steady_clock::now();
  sg4::Engine e(&argc, argv);
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s TRACE TASKS OPS [--cfg=...]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  State st;
  S = &st;
  st.total = std::stol(argv[2]);
  st.ops = std::stod(argv[3]);

  auto* zone = sg4::create_empty_zone("world");
  auto* master_host = zone->create_host("master", 1.0);
  double horizon = 0;
  std::vector<bool> on_at_zero;
  auto add_host = [&](sg4::Host* h, double speed, bool starts_on) {
    st.hosts.push_back(h);
    st.speed.push_back(speed);
    on_at_zero.push_back(starts_on);
  };
  std::string bin_path = is_dir(dir) ? dir + "/trace.bin" : dir;
  bool binary = !is_dir(dir) || std::ifstream(bin_path).good();
  BinTrace bin;
  if (binary) {
    bin = read_bin(bin_path);
    for (size_t h = 0; h < bin.names.size(); h++) {
      auto* host = zone->create_host(bin.names[h], bin.speeds[h]);
      uint64_t lo = bin.offsets[h], hi = bin.offsets[h + 1];
      // The state profile `spequlos trace convert --to simgrid` would write ("0 0" first if the
      // host starts off, then "start 1" and "end 0" per interval), as the delays between
      // successive dates that SimGrid's own parser produces. Appended once: the profile does
      // not loop.
      const BinTrace* t = &bin;
      host->set_state_profile(simgrid::kernel::profile::ProfileBuilder::from_callback(
          bin.names[h],
          [t, lo, hi](std::vector<simgrid::kernel::profile::DatedValue>& list) {
            if (!list.empty())
              return;
            double last = 0;
            if (lo == hi || t->starts[lo] != 0)
              list.emplace_back(0.0, 0.0);
            for (uint64_t i = lo; i < hi; i++) {
              double s = static_cast<double>(t->starts[i]), e = static_cast<double>(t->ends[i]);
              list.emplace_back(s - last, 1.0);
              list.emplace_back(e - s, 0.0);
              last = e;
            }
          },
          -1));
      if (hi > lo)
        horizon = std::max(horizon, static_cast<double>(bin.ends[hi - 1]));
      add_host(host, bin.speeds[h], hi > lo && bin.starts[lo] == 0);
    }
  } else {
    std::ifstream hosts_csv(dir + "/hosts.csv");
    if (!hosts_csv) {
      std::fprintf(stderr, "%s/hosts.csv: cannot read\n", dir.c_str());
      return 2;
    }
    std::string line;
    std::getline(hosts_csv, line);  // header
    while (std::getline(hosts_csv, line)) {
      if (line.empty())
        continue;
      std::stringstream ls(line);
      std::string id, name, speed;
      std::getline(ls, id, ',');
      std::getline(ls, name, ',');
      std::getline(ls, speed, ',');
      double s = std::stod(speed);
      auto* h = zone->create_host(name, s);
      std::string profile = read_file(dir + "/" + name + ".profile");
      // Only the first line (does the host start off?) and the last (the end of the trace) are
      // needed here; SimGrid parses the whole profile itself.
      double date, value;
      bool starts_on = !(std::sscanf(profile.c_str(), "%lf %lf", &date, &value) == 2 && date == 0.0 && value == 0.0);
      size_t end = profile.find_last_not_of("\n");
      size_t last_line = end == std::string::npos ? 0 : profile.rfind('\n', end);
      last_line = last_line == std::string::npos ? 0 : last_line + 1;
      if (std::sscanf(profile.c_str() + last_line, "%lf %lf", &date, &value) == 2)
        horizon = std::max(horizon, date);
      h->set_state_profile(simgrid::kernel::profile::ProfileBuilder::from_string(name, profile, -1));
      add_host(h, s, starts_on);
    }
  }
  zone->seal();
  size_t n = st.hosts.size();
  st.sem.resize(n);
  st.assigned.assign(n, -1);
  st.current.assign(n, -1);
  st.idle.assign(n, false);
  st.launched.assign(n, false);
  for (long t = 0; t < st.total; t++)
    st.waiting.push_back(static_cast<int>(t));
  st.launcher_sem = sg4::Semaphore::create(0);
  st.master_sem = sg4::Semaphore::create(0);

  std::unordered_map<const sg4::Host*, int> index_of;
  for (size_t i = 0; i < n; i++)
    index_of[st.hosts[i]] = static_cast<int>(i);
  sg4::Host::on_state_change_cb([&st, &index_of](sg4::Host const& h) {
    auto it = index_of.find(&h);
    if (it == index_of.end())
      return;
    int i = it->second;
    if (!h.is_on()) {
      // The host went OFF: its task, running or handed over but not yet started (the model
      // starts it at once), loses its work and goes back to the front. This runs in maestro:
      // waking another worker from the dying worker's on_exit is not allowed.
      int lost = st.current[i] >= 0 ? st.current[i] : st.assigned[i];
      st.current[i] = -1;
      st.assigned[i] = -1;
      st.idle[i] = false;
      if (lost >= 0 && st.done < st.total) {
        st.waiting.push_front(lost);
        st.restarts++;
        dispatch();
      }
      return;
    }
    if (st.launched[i])
      return;
    st.to_launch.push_back(i);
    st.launcher_sem->release();
  });
  sg4::Actor::create("master", master_host, master, horizon);
  sg4::Actor::create("launcher", master_host, launcher)->daemonize();
  for (size_t i = 0; i < n; i++) {
    if (on_at_zero[i]) {
      st.launched[i] = true;
      sg4::Actor::create("worker", st.hosts[i], worker, static_cast<int>(i))->set_auto_restart(true);
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  e.run();
  auto t2 = std::chrono::steady_clock::now();
  std::printf("makespan %.17g restarts %ld engine_s %.6f setup_s %.6f\n", st.makespan, st.restarts,
              std::chrono::duration<double>(t2 - t1).count(), std::chrono::duration<double>(t1 - t0).count());
  return 0;
}
