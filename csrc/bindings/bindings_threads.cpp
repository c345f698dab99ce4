// pybind11 bindings of the thread count (cpu/threads.cpp): set/get, the
// bound, and the default's sources (private hooks the tests call with a
// fake cgroup tree). The default is set once here, at import.
#include <string>
#include "bindings/bindings_util.h"
#include "cpu/threads.h"

namespace py = pybind11;
using namespace fastmlp;

namespace {

py::dict default_dict(const ThreadDefault& d) {
  py::dict r;
  r["count"] = d.count;
  r["affinity"] = d.affinity;
  r["quota"] = d.quota > 0 ? py::object(py::float_(d.quota)) : py::object(py::none());
  r["source"] = d.source;
  r["warning"] = d.warning.empty() ? py::object(py::none()) : py::object(py::str(d.warning));
  return r;
}

}  // namespace

void bind_threads(py::module_& m) {
  const ThreadDefault d = init_threads();  // fastmlp/__init__.py warns with d.warning
  static const py::dict* const initial = new py::dict(default_dict(d));  // the import's default, kept for its life

  m.def("set_num_threads", [](py::handle n) { set_num_threads(thread_count_arg(n, "num_threads")); },
        py::arg("num_threads"),
        "Set fastmlp's thread count for every thread of the process (an int in [1, max_threads()]).");
  m.def("get_num_threads", &get_num_threads,
        "The thread count a kernel called now from this thread uses (see fastmlp.get_num_threads).");
  m.def("max_threads", &max_threads, "The largest thread count accepted: max(256, CPUs configured).");
  m.def("_forked_child", &forked_child, "Whether this process is a fork() child (kernels run on one thread).");
  m.def("_thread_default", [] { return *initial; },
        "The default count set at import and its sources: {count, affinity, quota, source, warning}.");
  m.def("_default_num_threads",
        [](py::object omp, const std::string& cgroup_root, const std::string& proc_self_cgroup) {
          const std::string s = omp.is_none() ? std::string() : omp.cast<std::string>();
          return default_dict(default_num_threads(omp.is_none() ? nullptr : s.c_str(), cgroup_root, proc_self_cgroup));
        },
        py::arg("omp_num_threads"), py::arg("cgroup_root"), py::arg("proc_self_cgroup"),
        "default_num_threads with an explicit OMP_NUM_THREADS value (None: unset) and cgroup files (tests).");
  m.def("_cgroup_cpu_limit", [](const std::string& root, const std::string& proc_self_cgroup) {
          const double q = cgroup_cpu_limit(root, proc_self_cgroup);
          return q > 0 ? py::object(py::float_(q)) : py::object(py::none());
        }, py::arg("cgroup_root"), py::arg("proc_self_cgroup"),
        "The cgroup CPU quota in CPUs (None: unlimited) read under cgroup_root for a /proc/self/cgroup file (tests).");
}
