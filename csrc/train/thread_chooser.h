// ThreadChooser: the thread count of a loop of many training steps, measured
// as it runs (sk_fit.cpp's scikit-learn epochs and train_epoch's step loop).
//
// A step's parallel regions can cost more than the second thread saves (small
// models: digits' batches of 200 rows through 64-100-10), and far more when
// another process holds one of the cores: each region then waits for a thread
// that is not running (a whole scheduler slice). Whether the caller's thread
// count or one thread is faster is not predicted from constants of a CPU: it
// is measured on the loop's own steps. Every step's wall time per row is kept,
// per option, as an exponential average; the faster option runs, and the other
// is re-measured now and then: a probe runs it for a warm-up step, which is
// not timed (the first step after a change of count pays for waking the
// OpenMP workers, or for the caches the other count left; the loop's first
// step is not timed either), then for one timed step, whose time replaces
// that option's average. A probe of the slower option costs its excess time
// over the faster one, (ratio - 1) of a step, twice, so the interval between
// probes is 2 (ratio - 1) / kProbeBudget steps (within [kProbeMin,
// kProbeMax]): probing costs at most about kProbeBudget of the loop's time,
// however slow the other option is. Each probe that confirms the choice doubles
// the interval (up to kProbeMax; a flip resets it), so on a steady host the
// probes fade out; a change of load is still seen at once: when the running
// option's average grows past kSlowdown times its value at the last decision,
// the other option is probed at the next step.
//
// Contract for the user: every kernel of a step gives the same bits at any
// thread count, so the choice changes only the time. The count is set through
// the calling thread's OpenMP limit (omp_set_num_threads), which
// get_num_threads() honours; whatever the steps allocate per thread must be
// sized for the caller's count (TrainSession is). The limit is restored when
// the chooser is destroyed. Call begin(rows) before a step and end() after
// it (or between_steps between two), outside any parallel region; only steps of set_timed_rows() rows are
// timed (a short last batch is not).
#pragma once
#include <omp.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include "common.h"

namespace fastmlp {

// Benchmark and test hooks (_core._step_threads / _step_thread_stats): the
// mode forces every chooser made afterwards (0: measure and choose, 1: always
// the caller's count, 2: always one thread); the stats are the last destroyed
// chooser's per-option averages (seconds per row; 0: never timed) and timed
// step counts and fastest steps, option 0 = the caller's count, 1 = one thread.
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
// Whether train_step.cpp may take its team step (a benchmark hook: off for an A/B).
inline std::atomic<bool>& team_step_enabled() {
  static std::atomic<bool> on{true};
  return on;
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

class ThreadChooser {
 public:
  static constexpr index_t kProbeMin = 8, kProbeMax = 4096;
  static constexpr double kProbeBudget = 0.02, kSlowdown = 1.5;
  static constexpr int kMaxBackoff = 12;

  explicit ThreadChooser(int nt)
      : nt_(nt), saved_(omp_get_max_threads()), forced_(step_threads_mode().load()) {
    if (forced_ == 1) cur_ = 0;
  }
  ~ThreadChooser() {
    if (active()) omp_set_num_threads(saved_);
    StepThreadStats st;
    for (int i = 0; i < 2; ++i) {
      st.avg[i] = avg_[i];
      st.min[i] = min_[i];
      st.timed[i] = timed_[i];
    }
    st.threads = nt_;
    last_step_thread_stats().store(st);
  }
  bool active() const { return nt_ > 1; }

  // Before a step (of `rows` rows; only steps of the full batch are timed).
  void begin(index_t rows) {
    if (!active()) return;
    rows_ = rows;
    omp_set_num_threads(cur_ == 0 ? saved_ : 1);
    t0_ = Clock::now();
  }
  // After it: its time enters its option's average, and the next option is chosen.
  void end() {
    if (!active()) return;
    if (warm_) {  // the first step after a change of option is not timed (see the top)
      warm_ = false;
      return;
    }
    if (rows_ != timed_rows_) return;
    const double r = std::chrono::duration<double>(Clock::now() - t0_).count() / double(rows_);
    // A probe replaces its option's average: the previous one is many steps old.
    avg_[cur_] = avg_[cur_] > 0.0 && !probing_ ? 0.75 * avg_[cur_] + 0.25 * r : r;
    ++timed_[cur_];
    if (min_[cur_] == 0.0 || r < min_[cur_]) min_[cur_] = r;
    if (forced_ != 0) return;  // the hook's fixed option
    if (probing_) {  // the other option's step just ran
      probing_ = false;
      const int before = 1 - cur_;
      if (avg_[cur_] >= avg_[1 - cur_]) {  // back to the faster one
        cur_ = 1 - cur_;
        warm_ = true;
      }
      backoff_ = cur_ == before ? std::min(backoff_ + 1, kMaxBackoff) : 0;
      // (a probe runs two steps of the other option: its warm-up and its timed step)
      const double interval =
          2.0 * (avg_[1 - cur_] / avg_[cur_] - 1.0) / kProbeBudget * double(index_t(1) << backoff_);
      countdown_ = index_t(std::clamp(interval, double(kProbeMin), double(kProbeMax)));
      base_ = avg_[cur_];
    } else if (avg_[1 - cur_] == 0.0 || --countdown_ <= 0 ||
               (base_ > 0.0 && avg_[cur_] > kSlowdown * base_)) {
      cur_ = 1 - cur_;  // measure the other option: a warm-up step, then a timed one
      probing_ = true;
      warm_ = true;
    }
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
  long long timed_[2] = {0, 0};
  double min_[2] = {0.0, 0.0};
  int cur_ = 1;  // 0: the caller's count, 1: one thread (first: the cheaper one to measure)
  double avg_[2] = {0.0, 0.0};
  double base_ = 0.0;  // the running option's average at the last decision
  int backoff_ = 0;
  bool probing_ = false;
  bool warm_ = true;  // the next step is a warm-up: not timed
  index_t countdown_ = kProbeMin, rows_ = 0, timed_rows_ = 0;
  Clock::time_point t0_;
};

}  // namespace fastmlp
