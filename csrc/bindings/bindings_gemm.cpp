// Bindings of the per-CPU GEMM plan (gemm/gemm_plan.h): what the CPU reports,
// its class, the micro-kernel and blocking in use, and the pure model for tests.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <stdexcept>
#include "bindings/bindings_util.h"
#include "cpu/cpu_info.h"
#include "gemm/gemm_plan.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

py::dict cache_dict(const CacheLevel& c) {
  py::dict d;
  d["level"] = c.level;
  d["size"] = c.size;
  d["ways"] = c.ways;
  d["line"] = c.line;
  d["sets"] = c.sets;
  d["sharing"] = c.sharing;
  return d;
}

CpuClass class_from(const std::string& name) {
  CpuClass c;
  if (!parse_cpu_class(name, &c)) {
    std::string names;
    for (int i = 0; i < kNumCpuClasses; ++i)
      names += std::string(i ? ", " : "") + "'" + cpu_class_name(CpuClass(i)) + "'";
    value_error("cpu_class: expected one of " + names + ", got '" + name + "'");
  }
  return c;
}

long long int_field(const py::dict& d, const char* key, long long lo, long long hi, long long dflt,
                    bool required) {
  if (!d.contains(key)) {
    if (required) value_error(std::string("caches: each entry needs '") + key + "'");
    return dflt;
  }
  py::handle v = d[key];
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v))
    type_error(std::string("caches: '") + key + "' must be an int");
  const long long x = v.cast<long long>();
  if (x < lo || x > hi)
    value_error(std::string("caches: '") + key + "' must be in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got " + std::to_string(x));
  return x;
}

py::dict plan_dict(const GemmPlan& p) {
  py::dict d;
  d["micro_kernel"] = p.kernel->name;
  d["mr"] = p.kernel->MR;
  d["nr"] = p.kernel->NR;
  d["prefetch_b_k"] = p.kernel->prefetch_b_k;
  d["operands_from"] = p.strategy.source == OperandSource::L1 ? "L1" : "L2";
  d["pack_a"] = p.strategy.pack_a;
  d["pack_b_align"] = p.strategy.pack_b_align;
  d["direct_max_flops"] = p.strategy.direct_max_flops;
  d["dot_path"] = p.dot_nt != nullptr;  // skinny: narrow-N products as dot products (sgemm.cpp)
  // small: the narrow paths' kernels as sgemm runs them now: the dot path's kernel
  // (None: off); the swapped path (off: no transposed store on this ISA path, or
  // _set_gemm_swap(False)) and the micro-kernels it and the direct path choose
  // among (GemmPlan::swap_kernels, the plan's own first).
  d["dot_kernel"] = p.dot_nt_name ? py::object(py::str(p.dot_nt_name)) : py::object(py::none());
  d["swap_path"] = p.store_trans != nullptr && gemm_swap_enabled();
  py::list swap_kernels;
  for (const GemmKernelTable* k : p.swap_kernels)
    if (k) swap_kernels.append(k->name);
  d["swap_kernels"] = swap_kernels;
  d["mc"] = p.blocking.MC;
  d["kc"] = p.blocking.KC;
  d["nc"] = p.blocking.NC;
  d["blocking_overridden"] = p.blocking_overridden;
  return d;
}

}  // namespace

void bind_gemm(py::module_& m) {
  // fastmlp/__init__.py calls it at import: a bad FASTMLP_CPU_CLASS or
  // FASTMLP_GEMM_BLOCKING is a ValueError there.
  m.def("gemm_init", [] {
    try {
      gemm_init();
    } catch (const std::invalid_argument& e) {
      value_error(e.what());
    }
  }, "Read FASTMLP_CPU_CLASS and FASTMLP_GEMM_BLOCKING and derive the GEMM plans (ValueError on a bad value).");

  m.def("gemm_config", [] {
    const CpuInfo& cpu = cpu_info();
    py::dict d;
    d["vendor"] = cpu.vendor;
    d["family"] = cpu.family;
    d["model"] = cpu.model;
    d["stepping"] = cpu.stepping;
    py::list caches;
    for (const CacheLevel& c : cpu.caches) caches.append(cache_dict(c));
    d["caches"] = caches;
    d["cache_source"] = cpu.cache_source;
    d["cache_mismatch"] = cpu.cache_mismatch.empty() ? py::object(py::none()) : py::str(cpu.cache_mismatch);
    d["cpu_class"] = cpu_class_name(active_cpu_class());
    d["detected_cpu_class"] = cpu_class_name(detected_cpu_class());
    py::list classes;
    for (int i = 0; i < kNumCpuClasses; ++i) classes.append(cpu_class_name(CpuClass(i)));
    d["cpu_classes"] = classes;
    d["isa"] = isa_name(active_isa());
    py::dict plan = plan_dict(gemm_plan(active_isa()));
    for (auto item : plan) d[item.first] = item.second;
    return d;
  }, "The detected CPU and caches, the CPU class, and the GEMM micro-kernel and blocking "
     "the active ISA path uses now.");

  m.def("set_cpu_class", [](const std::string& name) { set_cpu_class(class_from(name)); },
        py::arg("name"), "Select a CPU class's GEMM strategy (tests; FASTMLP_CPU_CLASS at import).");

  m.def("set_gemm_blocking", [](py::object text) {
    if (!text.is_none() && !py::isinstance<py::str>(text))
      type_error("text: expected a str 'MC,KC,NC' or None");
    const std::string t = text.is_none() ? std::string() : text.cast<std::string>();
    const std::string err = set_gemm_blocking(text.is_none() ? nullptr : &t);
    if (!err.empty()) value_error("text: " + err);
  }, py::arg("text"), "Tests: the blocking 'MC,KC,NC' for every plan, or None for the cache model's "
                      "(not while a GEMM runs).");

  // narrow: the swapped path of narrow-N GEMMs (sgemm.cpp), for tests.
  m.def("_set_gemm_swap", [](bool on) { set_gemm_swap(on); }, py::arg("on"),
        "Tests: False turns sgemm's swapped path off (the results' bits do not change), True back on.");
  m.def("_gemm_swap_kernel", [](bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float beta,
                                bool has_bias) -> py::object {
    const char* name = sgemm_swap_kernel_name(trans_a, trans_b, M, N, K, beta, has_bias);
    return name ? py::object(py::str(name)) : py::object(py::none());
  }, py::arg("trans_a"), py::arg("trans_b"), py::arg("M"), py::arg("N"), py::arg("K"), py::arg("beta"),
     py::arg("has_bias"), "Tests: the micro-kernel sgemm's swapped path runs this shape on, or None.");
  m.def("_gemm_direct_kernel", [](index_t M, index_t N, index_t K) { return sgemm_direct_kernel_name(M, N, K); },
        py::arg("M"), py::arg("N"), py::arg("K"),
        "Tests: the micro-kernel sgemm's direct path runs an M x N x K product on (not swapped).");

  m.def("gemm_blocking_model", [](py::list caches, const std::string& cls, const std::string& isa) {
    std::vector<CacheLevel> cs;
    for (py::handle h : caches) {
      if (!py::isinstance<py::dict>(h)) type_error("caches: expected a list of dicts");
      py::dict d = py::reinterpret_borrow<py::dict>(h);
      CacheLevel c;
      c.level = int(int_field(d, "level", 1, 4, 0, true));
      c.size = int_field(d, "size", 1, 1LL << 40, 0, true);
      c.ways = int(int_field(d, "ways", 0, 1 << 16, 0, true));
      c.line = int(int_field(d, "line", 1, 4096, 64, false));
      c.sharing = int(int_field(d, "sharing", 1, 1 << 16, 1, false));
      c.sets = int_field(d, "sets", 0, 1LL << 40, 0, false);
      cs.push_back(c);
    }
    const GemmBlocking b = gemm_blocking_model(cs, gemm_strategy(class_from(cls), parse_isa(isa, "isa")));
    return py::make_tuple(b.MC, b.KC, b.NC);
  }, py::arg("caches"), py::arg("cpu_class"), py::arg("isa"),
     "(MC, KC, NC) the model derives for a class's micro-kernel on an ISA path from a cache "
     "description: a list of {'level', 'size', 'ways'[, 'line', 'sharing']} dicts.");

  m.def("parse_gemm_blocking", [](const std::string& text) {
    GemmBlocking b;
    const std::string err = parse_gemm_blocking(text, &b);
    if (!err.empty()) value_error("FASTMLP_GEMM_BLOCKING: " + err);
    return py::make_tuple(b.MC, b.KC, b.NC);
  }, py::arg("text"), "(MC, KC, NC) from 'MC,KC,NC' as FASTMLP_GEMM_BLOCKING takes it, or ValueError.");
}
