// fastmlp's thread count: one process-wide setting, bounded, with a default
// that respects OMP_NUM_THREADS, the CPU affinity and the cgroup CPU quota,
// capped in a thread by that thread's OpenMP limit (threadpoolctl), and 1 in
// a forked child. Every parallel region gets its count from get_num_threads()
// (common.h threads_if / parallel_or_inline, sgemm, the fused epoch).
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <vector>
#include "cpu/threads.h"

namespace fastmlp {

namespace {

std::atomic<int> g_count{1};            // the process-wide count (set_num_threads)
std::atomic<int> g_runtime_default{1};  // omp_get_max_threads() of a thread nobody limited
std::atomic<bool> g_forked{false};      // this process is a fork() child

void on_fork_child() { g_forked.store(true, std::memory_order_relaxed); }

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The first whitespace-separated words of a small file ({} when unreadable).
std::vector<std::string> read_words(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> w;
  for (std::string s; w.size() < 4 && f >> s;) w.push_back(s);
  return w;
}

// A decimal integer filling the whole string, else false.
bool parse_int(const std::string& s, long long* v) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return false;
  *v = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

// quota/period from `dir`'s files, or 0 when unlimited or unreadable.
double dir_limit(const std::string& dir, bool v2) {
  long long q, p;
  if (v2) {  // cpu.max: "max 100000" or "<quota> <period>"
    std::vector<std::string> w = read_words(dir + "/cpu.max");
    if (w.size() < 2 || !parse_int(w[0], &q) || !parse_int(w[1], &p)) return 0.0;
  } else {  // cpu.cfs_quota_us (-1: unlimited), cpu.cfs_period_us
    std::vector<std::string> wq = read_words(dir + "/cpu.cfs_quota_us");
    std::vector<std::string> wp = read_words(dir + "/cpu.cfs_period_us");
    if (wq.empty() || wp.empty() || !parse_int(wq[0], &q) || !parse_int(wp[0], &p)) return 0.0;
  }
  return q > 0 && p > 0 ? double(q) / double(p) : 0.0;
}

// The smallest limit on the way from mount/path up to mount (a cgroup is
// limited by every ancestor's quota too). A path that does not exist under the
// mount (a container without a cgroup namespace shows the host's path) falls
// back to the mount's own directory.
double walk_limit(const std::string& mount, std::string path, bool v2) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!is_dir(mount + path)) path.clear();
  double best = 0.0;
  for (;;) {
    const double l = dir_limit(mount + path, v2);
    if (l > 0 && (best == 0 || l < best)) best = l;
    if (path.empty()) break;
    path.erase(path.rfind('/'));
  }
  return best;
}

}  // namespace

double cgroup_cpu_limit(const std::string& root, const std::string& proc_self_cgroup) {
  std::ifstream f(proc_self_cgroup);
  std::string line, v2_path;
  bool have_v2 = false;
  for (; std::getline(f, line);) {  // "hierarchy-id:controller,list:/path"
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (ctrl.empty() && line.compare(0, a, "0") == 0) {
      have_v2 = true;
      v2_path = path;
      continue;
    }
    std::stringstream cs(ctrl);
    bool cpu = false;
    for (std::string c; std::getline(cs, c, ',');) cpu = cpu || c == "cpu";
    if (!cpu) continue;
    // cgroup v1 owns the cpu controller: its mount is named after its controllers.
    for (const std::string& m : {ctrl, std::string("cpu"), std::string("cpu,cpuacct"), std::string("cpuacct,cpu")})
      if (is_dir(root + "/" + m)) return walk_limit(root + "/" + m, path, false);
    return 0.0;
  }
  return have_v2 ? walk_limit(root, v2_path, true) : 0.0;
}

int affinity_cpus() {
  for (int n = 1024; n <= (1 << 20); n *= 4) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (!set) break;
    const size_t size = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(size, set);
    const int rc = sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0) return std::max(count, 1);
    if (errno != EINVAL) break;
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? int(std::min<long>(n, 1 << 20)) : 1;
}

int max_threads() {
  static const int m = [] {
    const long n = sysconf(_SC_NPROCESSORS_CONF);
    return int(std::max<long>(256, std::min<long>(n, 1 << 20)));
  }();
  return m;
}

ThreadDefault default_num_threads(const char* omp_num_threads, const std::string& cgroup_root,
                                  const std::string& proc_self_cgroup) {
  ThreadDefault d;
  d.affinity = affinity_cpus();
  d.quota = cgroup_cpu_limit(cgroup_root, proc_self_cgroup);
  d.count = d.affinity;
  d.source = "the " + std::to_string(d.affinity) + " CPUs of this process's affinity mask";
  if (d.quota > 0 && std::floor(d.quota) < d.count) {
    // floor: never more threads than the quota runs at full speed (a spinning
    // thread beyond it only gets the others throttled); at least one.
    d.count = std::max(1, int(std::floor(d.quota)));
    d.source = "the cgroup CPU quota of " + std::to_string(d.quota).substr(0, 6) + " CPUs";
  }
  if (!omp_num_threads) return d;
  std::string s(omp_num_threads);
  s = s.substr(0, s.find(','));  // a nesting list "4,2": its first level is ours
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t") + 1);
  if (s.empty()) return d;
  long long v = 0;
  if (!parse_int(s, &v) || v < 1) {
    d.warning = "OMP_NUM_THREADS='" + std::string(omp_num_threads) +
                "' is not a positive integer; fastmlp uses " + std::to_string(d.count) +
                " threads (" + d.source + ")";
  } else if (v > max_threads()) {
    d.warning = "OMP_NUM_THREADS=" + s + " is above fastmlp's limit of " + std::to_string(max_threads()) +
                " threads; fastmlp uses " + std::to_string(d.count) + " (" + d.source + ") instead";
  } else {
    d.count = int(v);
    d.source = "OMP_NUM_THREADS";
  }
  return d;
}

ThreadDefault init_threads() {
  // What the runtime gives a thread that never changed its own setting: read
  // in a fresh thread, since the importing one may be inside a limit.
  int runtime_default = 1;
  try {
    std::thread([&] { runtime_default = omp_get_max_threads(); }).join();
  } catch (const std::system_error&) {  // no thread to spare: the caller's own setting
    runtime_default = omp_get_max_threads();
  }
  g_runtime_default.store(std::max(runtime_default, 1), std::memory_order_relaxed);
  // FASTMLP_TEST_FS_ROOT (tests only): a directory standing for "/" when the
  // cgroup files are read, so a test can run the real import on a fake tree.
  const char* fs = std::getenv("FASTMLP_TEST_FS_ROOT");
  const std::string prefix = fs ? fs : "";
  ThreadDefault d = default_num_threads(std::getenv("OMP_NUM_THREADS"), prefix + "/sys/fs/cgroup",
                                        prefix + "/proc/self/cgroup");
  g_count.store(d.count, std::memory_order_relaxed);
  static const int atfork = pthread_atfork(nullptr, nullptr, on_fork_child);
  (void)atfork;
  return d;
}

void set_num_threads(int n) { g_count.store(n, std::memory_order_relaxed); }

int get_num_threads() {
  if (g_forked.load(std::memory_order_relaxed) || omp_in_parallel()) return 1;
  const int n = g_count.load(std::memory_order_relaxed);
  const int m = omp_get_max_threads();
  return m < g_runtime_default.load(std::memory_order_relaxed) ? std::min(n, m) : n;
}

bool forked_child() { return g_forked.load(std::memory_order_relaxed); }

}  // namespace fastmlp
