// The default thread count and its sources (cpu/threads.cpp); the count
// itself is declared in kernels.h (set_num_threads, get_num_threads).
#pragma once
#include <string>
#include "kernels.h"

namespace fastmlp {

// The default count and where it came from: OMP_NUM_THREADS when it is an
// integer in [1, max_threads()] (else `warning` says why it was not used),
// otherwise the CPUs of the affinity mask, lowered to floor(cgroup quota)
// (at least 1) when a quota is set.
struct ThreadDefault {
  int count = 1, affinity = 1;
  double quota = 0;  // CPUs the cgroup quota allows; 0: none
  std::string source, warning;
};
ThreadDefault default_num_threads(const char* omp_num_threads, const std::string& cgroup_root,
                                  const std::string& proc_self_cgroup);
// The CPU quota (quota / period, the smallest on the way to the root) of the
// cgroup /proc/self/cgroup-format file `proc_self_cgroup` names, under the
// cgroup mount `root` (v2: <root>/<path>/cpu.max; v1: <root>/cpu,.../<path>/
// cpu.cfs_quota_us and cpu.cfs_period_us); 0 when unlimited or unreadable.
double cgroup_cpu_limit(const std::string& root, const std::string& proc_self_cgroup);
int affinity_cpus();  // CPUs in this process's sched_getaffinity mask (at least 1)
// Once, at import: reads the runtime's default, sets the default count
// (default_num_threads from the real environment, /sys/fs/cgroup and
// /proc/self/cgroup, both under $FASTMLP_TEST_FS_ROOT when that is set: a
// hook for tests only) and installs the fork handler.
ThreadDefault init_threads();

}  // namespace fastmlp
