// What the CPU says about itself: vendor, family/model, and its data cache
// hierarchy, read once (CPUID leaf 4 on Intel, 0x8000001D on AMD, cross-checked
// with /sys/devices/system/cpu/cpu0/cache). Baseline code only: CPUID is part
// of every x86-64 CPU, and no vector instruction is involved.
#pragma once
#include <string>
#include <vector>

namespace fastmlp {

// One data (or unified) cache level as seen by one core.
struct CacheLevel {
  int level = 0;          // 1, 2, 3
  long long size = 0;     // bytes, the whole cache (all sharers)
  int ways = 0;           // associativity (0: fully associative or unknown)
  int line = 0;           // bytes per line
  long long sets = 0;     // number of sets
  int sharing = 1;        // logical processors sharing it (>= 1)
};

struct CpuInfo {
  std::string vendor;     // "GenuineIntel", "AuthenticAMD", ... ("" off x86)
  int family = 0, model = 0, stepping = 0;  // display family/model (extended fields folded in)
  std::vector<CacheLevel> caches;  // data/unified levels, ascending, at most one per level
  std::string cache_source;        // "cpuid", "sysfs" or "none"
  // Empty when CPUID and sysfs agree (or only one of them could be read);
  // else what differed: the CPUID figures are used (a VM may hide either).
  std::string cache_mismatch;
};

// Read once, on the first call; thread-safe.
const CpuInfo& cpu_info();

// Parse one cache level's description in the sysfs layout (used by the
// detection; exposed for tests): size like "32K"/"1024K"/"32M" in bytes, or -1.
long long parse_sysfs_size(const std::string& text);

}  // namespace fastmlp
