// CPU identification and cache hierarchy (cpu_info.h).
#include "cpu/cpu_info.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#if defined(FASTMLP_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FASTMLP_HAVE_CPUID 1
#endif

namespace fastmlp {

long long parse_sysfs_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  long long v = 0;
  size_t digits = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
    v = v * 10 + (text[i] - '0');
    if (v > (1LL << 40)) return -1;
  }
  if (digits == 0) return -1;
  long long mult = 1;
  if (i < text.size()) {
    const char c = char(std::toupper(static_cast<unsigned char>(text[i])));
    if (c == 'K') mult = 1024, ++i;
    else if (c == 'M') mult = 1024 * 1024, ++i;
    else if (c == 'G') mult = 1024LL * 1024 * 1024, ++i;
  }
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i != text.size()) return -1;
  return v * mult;
}

namespace {

#ifdef FASTMLP_HAVE_CPUID
void identify(CpuInfo* info) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return;
  char vendor[13];
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  vendor[12] = 0;
  info->vendor = vendor;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    const int base_family = int((a >> 8) & 0xF), base_model = int((a >> 4) & 0xF);
    info->family = base_family == 0xF ? base_family + int((a >> 20) & 0xFF) : base_family;
    info->model = base_family == 0x6 || base_family == 0xF ? (int((a >> 16) & 0xF) << 4) | base_model
                                                          : base_model;
    info->stepping = int(a & 0xF);
  }
}

// The deterministic cache parameters leaf: Intel's leaf 4 and AMD's 0x8000001D
// share one layout (Intel SDM vol. 2A "CPUID—Deterministic Cache Parameters
// Leaf"; AMD APM vol. 3 "CPUID Fn8000_001D Cache Topology Information").
std::vector<CacheLevel> cpuid_caches(const std::string& vendor) {
  std::vector<CacheLevel> out;
  const unsigned leaf = vendor == "GenuineIntel" ? 4u : 0x8000001Du;
  unsigned a, b, c, d;
  if (leaf == 4u) {
    if (__get_cpuid_max(0, nullptr) < 4) return out;
  } else {
    if (vendor != "AuthenticAMD" && vendor != "HygonGenuine") return out;
    if (__get_cpuid_max(0x80000000u, nullptr) < 0x8000001Du) return out;
    // Fn8000_0001 ECX bit 22 (TopologyExtensions) says whether the leaf is valid.
    __cpuid(0x80000001u, a, b, c, d);
    if (!(c & (1u << 22))) return out;
  }
  for (unsigned i = 0; i < 16; ++i) {
    __cpuid_count(leaf, i, a, b, c, d);
    const unsigned type = a & 0x1F;  // 0 none, 1 data, 2 instruction, 3 unified
    if (type == 0) break;
    if (type == 2) continue;
    CacheLevel L;
    L.level = int((a >> 5) & 0x7);
    const bool fully_assoc = (a >> 9) & 1;
    L.sharing = int((a >> 14) & 0xFFF) + 1;
    L.line = int(b & 0xFFF) + 1;
    const long long parts = ((b >> 12) & 0x3FF) + 1;
    const long long ways = ((b >> 22) & 0x3FF) + 1;
    L.sets = (long long)c + 1;
    L.ways = fully_assoc ? 0 : int(ways);
    L.size = ways * parts * L.line * L.sets;
    if (L.level >= 1 && L.level <= 4) out.push_back(L);
  }
  return out;
}
#endif

bool read_text(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::getline(f, *out);
  return true;
}

int count_cpu_list(const std::string& list) {  // "0-1,4" -> 3
  int n = 0;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int lo, hi;
    if (std::sscanf(part.c_str(), "%d-%d", &lo, &hi) == 2 && hi >= lo) n += hi - lo + 1;
    else if (std::sscanf(part.c_str(), "%d", &lo) == 1) n += 1;
  }
  return n > 0 ? n : 1;
}

std::vector<CacheLevel> sysfs_caches() {
  std::vector<CacheLevel> out;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::string type, level, size, ways, line, sets, shared;
    if (!read_text(dir + "type", &type)) break;
    if (type == "Instruction") continue;
    CacheLevel L;
    if (!read_text(dir + "level", &level) || !read_text(dir + "size", &size)) continue;
    L.level = std::atoi(level.c_str());
    L.size = parse_sysfs_size(size);
    if (read_text(dir + "ways_of_associativity", &ways)) L.ways = std::atoi(ways.c_str());
    if (read_text(dir + "coherency_line_size", &line)) L.line = std::atoi(line.c_str());
    if (read_text(dir + "number_of_sets", &sets)) L.sets = std::atoll(sets.c_str());
    if (read_text(dir + "shared_cpu_list", &shared)) L.sharing = count_cpu_list(shared);
    if (L.level >= 1 && L.level <= 4 && L.size > 0) out.push_back(L);
  }
  return out;
}

// At most one entry per level, ascending, and each one consistent.
std::vector<CacheLevel> tidy(std::vector<CacheLevel> v) {
  std::vector<CacheLevel> out;
  for (int level = 1; level <= 4; ++level)
    for (const CacheLevel& L : v)
      if (L.level == level && L.size > 0) {
        CacheLevel t = L;
        if (t.line <= 0) t.line = 64;
        if (t.sharing < 1) t.sharing = 1;
        if (t.sets <= 0 && t.ways > 0) t.sets = t.size / (t.line * (long long)t.ways);
        out.push_back(t);
        break;
      }
  return out;
}

std::string describe(const std::vector<CacheLevel>& v) {
  std::string s;
  for (const CacheLevel& L : v) {
    if (!s.empty()) s += ", ";
    s += "L" + std::to_string(L.level) + " " + std::to_string(L.size / 1024) + " KiB " +
         std::to_string(L.ways) + "-way x" + std::to_string(L.sharing);
  }
  return s;
}

CpuInfo detect() {
  CpuInfo info;
  std::vector<CacheLevel> from_cpuid;
#ifdef FASTMLP_HAVE_CPUID
  identify(&info);
  from_cpuid = tidy(cpuid_caches(info.vendor));
#endif
  const std::vector<CacheLevel> from_sysfs = tidy(sysfs_caches());
  if (!from_cpuid.empty()) {
    info.caches = from_cpuid;
    info.cache_source = "cpuid";
    if (!from_sysfs.empty()) {
      bool same = from_sysfs.size() == from_cpuid.size();
      for (size_t i = 0; same && i < from_cpuid.size(); ++i)
        same = from_cpuid[i].size == from_sysfs[i].size && from_cpuid[i].ways == from_sysfs[i].ways;
      if (!same) info.cache_mismatch = "cpuid: " + describe(from_cpuid) + "; sysfs: " + describe(from_sysfs);
    }
  } else if (!from_sysfs.empty()) {
    info.caches = from_sysfs;
    info.cache_source = "sysfs";
  } else {
    info.cache_source = "none";
  }
  return info;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = detect();
  return info;
}

}  // namespace fastmlp
