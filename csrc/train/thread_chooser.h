// ThreadChooser: the thread count of a loop of many steps, measured as it
// runs (sk_fit.cpp's scikit-learn epochs, train_epoch's step loop, and
// infer_forward's calls, each call one step).
//
// A step's parallel regions can cost more than the second thread saves (small
// models: digits' batches of 200 rows through 64-100-10), and far more when
// another process holds one of the cores: each region then waits for a thread
// that is not running (a whole scheduler slice). Whether the caller's thread
// count or one thread is faster is not predicted from constants of a CPU: it
// is measured on the loop's own steps. Each option keeps the wall times per
// row of its last kRing timed steps. The choice goes by their mean (what a
// step costs on average, including the long waits that contention for a core
// adds to some of a parallel step's regions, which can leave the faster
// median with the slower mean). How long a choice stands goes by their
// median, which one preempted step does not move: the probed option's excess
// over the running one, from the medians, sets the interval to the next
// probe, so a probe that lost to one stretched step is repeated soon, while
// an option slow in most of its steps is left alone for long (an interval
// from the means let one stretched step lock a loop on the slower option:
// bench/results/README.md#thread-chooser). The faster option runs, and the other is re-measured now and then: a
// probe runs it for a warm-up step, which is not timed (the first step after
// a change of count pays for waking the OpenMP workers, or for the caches the
// other count left; the loop's first step is not timed either), then for
// kProbeSteps timed steps, which replace that option's samples. A probe of
// the slower option costs its excess time over the faster one, (ratio - 1) of
// a step, kProbeSteps + 1 times, so the interval between probes is
// (kProbeSteps + 1) (ratio - 1) / kProbeBudget steps (at least kProbeMin):
// probing costs at most about kProbeBudget of the loop's time, however slow
// the other option is. Each probe that confirms the choice doubles the
// interval (up to kProbeMax; a flip resets it), so on a steady host the
// probes fade out; a change of load is still seen at once: when the running
// option's mean grows past kSlowdown times its value at the last decision,
// the other option is probed next.
//
// Memory across calls: a chooser made with a key (a hash of the work: layer
// sizes, batch rows, thread count) continues the state the last chooser of
// that key on the calling thread left (ThreadChoiceMemory), so a loop split
// into many calls (one train_epoch call per epoch under scikit-learn's early
// stopping or partial_fit, one infer_forward call per predict) keeps
// measuring and choosing as one loop instead of re-probing (or never
// deciding) in each call.
//
// Contract for the user: every kernel of a step gives the same bits at any
// thread count, so the choice changes only the time. The count is set through
// the calling thread's OpenMP limit (omp_set_num_threads), which
// get_num_threads() honours; whatever the steps allocate per thread must be
// sized for the caller's count (TrainSession is). The limit is restored when
// the chooser is destroyed. Call begin(rows) before a step and end() after
// it (or between_steps between two), outside any parallel region (inside one
// the chooser does nothing); only steps of set_timed_rows() rows are timed (a
// short last batch is not).
#pragma once
#include <omp.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include "common.h"

namespace fastmlp {

// Benchmark and test hooks (_core._step_threads / _step_thread_stats): the
// mode forces every chooser made afterwards (0: measure and choose, 1: always
// the caller's count, 2: always one thread); the stats are the last destroyed
// chooser's per-option estimates (seconds per row: the mean of its last
// timed steps; 0: never timed), its own timed step counts and fastest steps,
// option 0 = the caller's count, 1 = one thread. Setting the mode also
// forgets every remembered choice (ThreadChoiceMemory).
struct StepThreadStats {
  double avg[2] = {0.0, 0.0};
  double min[2] = {0.0, 0.0};  // the fastest timed step's seconds per row
  long long timed[2] = {0, 0};
  int threads = 0;  // the caller's count (1: the chooser was inactive)
};
inline std::atomic<int>& step_threads_mode() {
  static std::atomic<int> mode{0};
  return mode;
}
// When train_step.cpp takes its team step (a benchmark and test hook): 0 never
// (an A/B), 1 where it pays (the default), 2 wherever it applies (tests: its
// bits on shapes too small to pay).
inline std::atomic<int>& team_step_mode() {
  static std::atomic<int> mode{1};
  return mode;
}
// Steps run as the team step (train_step.cpp) since the process started.
inline std::atomic<long long>& team_step_count() {
  static std::atomic<long long> n{0};
  return n;
}
// The record behind one mutex: choosers end in GIL-released kernels, possibly
// on several Python threads at once.
class StepThreadStatsRecord {
 public:
  void store(const StepThreadStats& s) {
    std::lock_guard<std::mutex> lock(mu_);
    s_ = s;
  }
  StepThreadStats load() {
    std::lock_guard<std::mutex> lock(mu_);
    return s_;
  }

 private:
  std::mutex mu_;
  StepThreadStats s_;
};
inline StepThreadStatsRecord& last_step_thread_stats() {
  static StepThreadStatsRecord r;
  return r;
}

// The decision state of a chooser (what ThreadChoiceMemory keeps per key):
// the option the next step runs (cur), and what the steps so far measured.
// Clock-free, so its rules are tested on synthetic times
// (_core._thread_choice_simulate).
struct ThreadChoiceState {
  static constexpr index_t kProbeMin = 8, kProbeMax = 4096;
  static constexpr double kProbeBudget = 0.02, kSlowdown = 1.5;
  static constexpr int kMaxBackoff = 12, kProbeSteps = 3;
  static constexpr int kRing = 8;
  double ring[2][kRing] = {};  // per option: the last timed steps' seconds per row
  int count[2] = {0, 0};       // valid entries of ring[o] (<= kRing)
  int head[2] = {0, 0};        // next slot of ring[o]
  int cur = 1;  // 0: the caller's count, 1: one thread (first: the cheaper one to measure)
  double base = 0.0;  // the running option's mean at the last decision
  int backoff = 0;
  int probe_left = 0;  // > 0: probing option `cur`, this many timed steps to go
  bool warm = true;    // the next step is a warm-up: not timed
  index_t countdown = kProbeMin;

  void push(int o, double r) {
    ring[o][head[o]] = r;
    head[o] = (head[o] + 1) % kRing;
    count[o] = std::min(count[o] + 1, kRing);
  }
  void clear(int o) { count[o] = head[o] = 0; }
  // The mean and the median (the lower one of an even count) of option o's samples; 0 when none.
  double mean(int o) const {
    double sum = 0.0;
    for (int i = 0; i < count[o]; ++i) sum += ring[o][i];
    return count[o] ? sum / double(count[o]) : 0.0;
  }
  double median(int o) const {
    if (count[o] == 0) return 0.0;
    double v[kRing];
    const int n = count[o];
    for (int i = 0; i < n; ++i) {  // insertion sort of at most kRing values
      int j = i;
      for (; j > 0 && v[j - 1] > ring[o][i]; --j) v[j] = v[j - 1];
      v[j] = ring[o][i];
    }
    return v[(n - 1) / 2];
  }

  // A step of a full batch just ran on option cur, at r seconds per row;
  // adaptive: choose (else the option stays, as the hook forces it). Returns
  // whether it was timed (false: a warm-up). Then cur is the next step's option.
  bool step_done(double r, bool adaptive) {
    if (warm) {  // the first step after a change of option is not timed (see the top)
      warm = false;
      return false;
    }
    const int run = cur, other = 1 - cur;
    push(run, r);
    if (!adaptive) return true;
    if (probe_left > 0) {  // the other option's probe
      if (--probe_left > 0) return true;
      if (mean(run) >= mean(other)) {  // back to the faster one
        cur = other;
        warm = true;
      }
      backoff = cur == other ? std::min(backoff + 1, kMaxBackoff) : 0;
      const double fast = median(cur), slow = median(1 - cur);
      const double steps = std::max(double(kProbeMin), double(kProbeSteps + 1) * (slow / fast - 1.0) / kProbeBudget);
      countdown = index_t(std::min(steps * double(index_t(1) << backoff), double(kProbeMax)));
      base = mean(cur);
    } else if (count[other] == 0 ? count[run] >= kProbeSteps
                                 : (--countdown <= 0 || (base > 0.0 && mean(run) > kSlowdown * base))) {
      cur = other;  // measure the other option: a warm-up step, then kProbeSteps timed ones
      clear(other);
      probe_left = kProbeSteps;
      warm = true;
    }
    return true;
  }
  // A step of another size ran: not timed, and the choice stays.
  void short_step_done() { warm = false; }
};

// The calling thread's choosers' states by key: at most kEntries, the least
// recently used one replaced. One table per thread (no lock: choosers run in
// GIL-released kernels, possibly on several Python threads at once, and each
// keeps its own choices); a chooser works on its entry in place, and no two
// choosers of one thread are alive at once (none nests in another's steps).
// forget_all() makes every thread's table start empty at its next use.
class ThreadChoiceMemory {
 public:
  static constexpr int kEntries = 32;
  // The state of `key`, and whether it was there (else a fresh state in the
  // entry of the least recently used key).
  ThreadChoiceState* acquire(std::uint64_t key, bool* found) {
    sync();
    Entry* slot = &e_[0];
    for (Entry& e : e_) {
      if (e.used && e.key == key) {
        e.used = ++clock_;
        *found = true;
        return &e.state;
      }
      if (e.used < slot->used) slot = &e;  // an unused entry, else the oldest
    }
    *slot = {key, ++clock_, ThreadChoiceState{}};
    *found = false;
    return &slot->state;
  }
  int size() {
    sync();
    int n = 0;
    for (const Entry& e : e_) n += e.used != 0;
    return n;
  }
  static void forget_all() { generation().fetch_add(1, std::memory_order_relaxed); }

 private:
  static std::atomic<unsigned>& generation() {
    static std::atomic<unsigned> g{0};
    return g;
  }
  void sync() {
    const unsigned g = generation().load(std::memory_order_relaxed);
    if (g == gen_) return;
    gen_ = g;
    for (Entry& e : e_) e.used = 0;
  }
  struct Entry {
    std::uint64_t key = 0;
    std::uint64_t used = 0;  // 0: free; else the last use's clock
    ThreadChoiceState state;
  };
  Entry e_[kEntries];
  std::uint64_t clock_ = 0;
  unsigned gen_ = 0;
};
inline ThreadChoiceMemory& thread_choice_memory() {
  static thread_local ThreadChoiceMemory m;
  return m;
}

// A key for ThreadChooser: the words that describe a step's work, mixed
// (a multiply-xorshift per word, as splitmix64's finaliser).
class ChoiceKey {
 public:
  ChoiceKey& add(std::uint64_t v) {
    h_ = (h_ ^ v) * 0x9e3779b97f4a7c15ULL;
    h_ ^= h_ >> 29;
    return *this;
  }
  std::uint64_t value() const { return h_ | 1; }  // never 0 (0: no memory)

 private:
  std::uint64_t h_ = 0x243f6a8885a308d3ULL;
};

class ThreadChooser {
 public:
  // nt: the caller's count (<= 1: inactive). key: ThreadChoiceMemory's key, 0
  // for none. A restored loop's first step is a warm-up, as a new loop's
  // (a new workspace), unless time_first (infer_forward: each call is one step,
  // which must be timed). record: store the stats for _step_thread_stats.
  explicit ThreadChooser(int nt, std::uint64_t key = 0, bool time_first = false, bool record = true)
      : nt_(omp_in_parallel() ? 1 : nt), saved_(omp_get_max_threads()), forced_(step_threads_mode().load()),
        record_(record) {
    if (forced_ == 1) own_.cur = 0;
    if (forced_ == 0 && nt_ > 1 && key) {
      bool found = false;
      s_ = thread_choice_memory().acquire(key, &found);
      if (found && !time_first) s_->warm = true;
    }
  }
  ~ThreadChooser() {
    if (active()) omp_set_num_threads(saved_);
    if (!record_) return;
    StepThreadStats st;
    for (int i = 0; i < 2; ++i) {
      st.avg[i] = s_->mean(i);
      st.min[i] = min_[i];
      st.timed[i] = timed_[i];
    }
    st.threads = nt_;
    last_step_thread_stats().store(st);
  }
  bool active() const { return nt_ > 1; }

  // Before a step (of `rows` rows; only steps of the timed rows are timed).
  void begin(index_t rows) {
    if (!active()) return;
    rows_ = rows;
    omp_set_num_threads(s_->cur == 0 ? saved_ : 1);
    t0_ = Clock::now();
  }
  // After it: its time enters its option's samples, and the next option is chosen.
  void end() {
    if (!active()) return;
    if (rows_ != timed_rows_) {
      s_->short_step_done();
      return;
    }
    const double r = std::chrono::duration<double>(Clock::now() - t0_).count() / double(rows_);
    const int run = s_->cur;
    if (!s_->step_done(r, forced_ == 0)) return;
    ++timed_[run];
    if (min_[run] == 0.0 || r < min_[run]) min_[run] = r;
  }
  void set_timed_rows(index_t rows) { timed_rows_ = rows; }
  // Between two steps (a TrainSession::run stop callback's body): end() the
  // step just run, then the caller's stop (may be empty); unless it asks to
  // stop, begin(rows) the next step. Returns what the stop returned.
  bool between_steps(index_t rows, const std::function<bool()>& stop) {
    end();
    if (stop && stop()) return true;
    begin(rows);
    return false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  int nt_, saved_, forced_;
  bool record_;
  ThreadChoiceState own_;            // the state without a key (or when forced)
  ThreadChoiceState* s_ = &own_;     // own_, or the key's entry of this thread's memory
  long long timed_[2] = {0, 0};  // this chooser's timed steps, per option
  double min_[2] = {0.0, 0.0};   // and its fastest step's seconds per row
  index_t rows_ = 0, timed_rows_ = 0;
  Clock::time_point t0_;
};

}  // namespace fastmlp
