"""fastmlp's thread count (issues 14 and 15): bounded, process-wide, controlled by
threadpoolctl, with a default from OMP_NUM_THREADS / the CPU affinity / the cgroup quota;
forked children; Ctrl-C in a fused epoch.

Everything whose old behaviour was a crash or a hang runs in a subprocess bounded in
time (timeout) and memory (RLIMIT_AS).
"""
import math
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, kernels

MAX = _core.max_threads()
# the fastmlp these tests imported (the source tree with PYTHONPATH=python, else the installed one)
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
CPUS = sorted(os.sched_getaffinity(0))
AS_LIMIT = 4 << 30  # bytes of address space a child may map: far above what these need
# An ASan build reserves terabytes of address space for its shadow memory at start:
# its children run bounded in time only.
SANITIZED = bool(_core.build_info.get("sanitized"))


def _limit_child():
    if not SANITIZED:
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def run_py(code, timeout=120, drop=("OMP_NUM_THREADS",), prefix=(), **env):
    """Run ``code`` in a fresh interpreter (the fastmlp this process imported) with RLIMIT_AS
    (not under ASan) and a timeout."""
    e = {k: v for k, v in os.environ.items() if k not in drop}
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [PKG_PARENT, e.get("PYTHONPATH")]))
    e.update(env)
    return subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=e, timeout=timeout, preexec_fn=_limit_child)


def expected_auto_default(quota):
    """The default without OMP_NUM_THREADS: the affinity CPUs, lowered to floor(quota) (>= 1)."""
    n = len(os.sched_getaffinity(0))
    return n if quota is None else max(1, min(n, math.floor(quota)))


@pytest.fixture
def restore_threads():
    previous = fastmlp.get_num_threads()
    yield
    fastmlp.set_num_threads(previous)


# ------------------------------------------------------------- bounds (15.3) --

BAD_COUNTS = [(0, ValueError), (-1, ValueError), (MAX + 1, ValueError), (40000, ValueError),
              (100000, ValueError), (2**40, ValueError), (2**70, ValueError), (True, TypeError),
              ("2", TypeError), (1.5, TypeError), (None, TypeError), (2.0, TypeError)]


@pytest.mark.parametrize("value,exc", BAD_COUNTS)
def test_set_num_threads_rejects_out_of_range(value, exc, restore_threads):
    with pytest.raises(exc, match=rf"num_threads: expected an int in \[1, {MAX}\]"):
        fastmlp.set_num_threads(value)


@pytest.mark.parametrize("value,exc", BAD_COUNTS)
def test_peak_gflops_rejects_out_of_range(value, exc):
    with pytest.raises(exc, match=rf"threads: expected an int in \[1, {MAX}\]"):
        kernels.peak_gflops(value, 0.01)


def test_bound_is_at_least_256_and_the_cpus():
    assert MAX == max(256, os.sysconf("SC_NPROCESSORS_CONF"))


def test_numpy_integers_accepted(restore_threads):
    fastmlp.set_num_threads(np.int64(1))
    assert fastmlp.get_num_threads() == 1
    fastmlp.set_num_threads(np.uint8(2))
    assert fastmlp.get_num_threads() == 2
    assert kernels.peak_gflops(np.int32(2), 0.01) > 0


def test_huge_counts_were_a_crash_now_an_error():
    """peak_gflops(40000) exited through libgomp and 100000 was SIGSEGV: now ValueError."""
    r = run_py("""
        from fastmlp import kernels
        for n in (40000, 100000):
            try:
                kernels.peak_gflops(n, 0.01)
            except ValueError as e:
                print("ValueError", "threads" in str(e))
        """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ValueError", "True"] * 2


SGEMM_CHECK = """
    import numpy as np, fastmlp
    from fastmlp import kernels
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 400)).astype(np.float32)
    b = rng.standard_normal((400, 500)).astype(np.float32)
    c = kernels.sgemm(a, b)   # 60 M multiply-adds: a parallel GEMM
    # A float32 dot product of length K in any order errs by at most
    # K * 2^-24 * sum_k |a_ik| |b_kj| (the gamma_K bound, to first order): checked per element.
    bound = 400 * 2.0**-24 * (np.abs(a).astype(np.float64) @ np.abs(b))
    print(fastmlp.get_num_threads(), int(np.all(np.abs(c - a.astype(np.float64) @ b) <= bound)))
    """


@pytest.mark.parametrize("value,want", [
    ("100000", None), ("257000", None), ("abc", None), ("0", None), ("-2", None), ("", None),
    ("1", 1), (" 2 ", 2), ("3,1", 3), (str(MAX), MAX)])
def test_omp_num_threads_environment(value, want):
    """OMP_NUM_THREADS in [1, max_threads()] is the default (a nesting list: its first
    level); anything else (100000 was a SIGSEGV in any parallel sgemm) is not used: the
    import warns (RuntimeWarning naming the value and why) and the default is the
    automatic one (affinity, cgroup quota). Clamped, not rejected: the variable belongs to
    every OpenMP library in the process, and the value is valid OpenMP; refusing to import
    over it would be worse than running with a sane count."""
    auto = _core._thread_default()
    quota = auto["quota"]
    r = run_py(SGEMM_CHECK, OMP_NUM_THREADS=value)
    assert r.returncode == 0, r.stderr
    count, ok = map(int, r.stdout.split())
    assert ok == 1
    if want is None:
        assert count == expected_auto_default(quota)
        if value.strip():
            assert "RuntimeWarning" in r.stderr and f"OMP_NUM_THREADS={value}"[:20] in r.stderr.replace("'", "")
    else:
        assert count == want
        assert "RuntimeWarning" not in r.stderr


# ------------------------------------------------------- process-wide (15.10) --


def test_new_python_thread_sees_the_process_wide_count(restore_threads):
    seen = []
    for n in (1, 2, 1):
        fastmlp.set_num_threads(n)
        t = threading.Thread(target=lambda: seen.append(fastmlp.get_num_threads()))
        t.start()
        t.join()
    assert seen == [1, 2, 1]


THREAD_COUNTER = """
    import os, threading, numpy as np, fastmlp
    from fastmlp import kernels
    a = np.ones((256, 512), np.float32)
    def tasks():  # OS threads of this process
        return len(os.listdir("/proc/self/task"))
    base = tasks()
    """


def test_set_num_threads_one_starts_no_worker_from_another_thread():
    """After set_num_threads(1), a kernel called from a new Python thread starts no OpenMP
    worker (it used to run on 2 threads: libgomp's setting was per thread)."""
    r = run_py(THREAD_COUNTER + """
    fastmlp.set_num_threads(1)
    out = []
    def work():
        out.append(float(kernels.sgemm(a, a.T)[0, 0]))   # 33 M multiply-adds: parallel at 2
        out.append(tasks() - base)                        # this thread only: 1
    t = threading.Thread(target=work); t.start(); t.join()
    fastmlp.set_num_threads(2)
    kernels.sgemm(a, a.T)
    # t.join() returns before t's OS thread has left /proc/self/task (a loaded host
    # shows it there for a while); a worker t would have started stays for good.
    import time
    deadline = time.monotonic() + 10
    while tasks() - base > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    print(out[0], out[1], tasks() - base)                 # now one OpenMP worker too
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["512.0", "1", "1"]


@pytest.mark.parametrize("user_api", [None, "openmp"])
def test_threadpool_limits_caps_fastmlp_inside_the_block(user_api, restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl not installed")
    fastmlp.set_num_threads(2)
    kw = {} if user_api is None else {"user_api": user_api}
    with threadpoolctl.threadpool_limits(1, **kw):
        assert fastmlp.get_num_threads() == 1
    assert fastmlp.get_num_threads() == 2


@pytest.mark.parametrize("user_api", ["None", "'openmp'"])
def test_threadpool_limits_starts_no_worker(user_api):
    """Inside threadpool_limits(1) a parallel-sized kernel runs on the calling thread only
    (no OpenMP worker is started); after the block the process-wide count is back."""
    pytest.importorskip("threadpoolctl", reason="threadpoolctl not installed")
    if len(CPUS) < 2:
        pytest.skip("needs 2 CPUs for a 2-thread default")
    r = run_py(THREAD_COUNTER + f"""
    from threadpoolctl import threadpool_limits
    fastmlp.set_num_threads(2)
    with threadpool_limits(1, user_api={user_api}):
        kernels.sgemm(a, a.T); inside = tasks() - base
    kernels.sgemm(a, a.T)
    print(inside, tasks() - base)
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "1"]


def test_set_num_threads_does_not_leak_into_openmp(restore_threads):
    """fastmlp.set_num_threads changes fastmlp's count only: the OpenMP runtime's setting,
    which the other OpenMP libraries of the process read, stays as it was."""
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl not installed")

    def omp_counts():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]

    before = omp_counts()
    assert before, "no OpenMP runtime found by threadpoolctl"
    for n in (1, 3):
        fastmlp.set_num_threads(n)
        assert omp_counts() == before
        assert fastmlp.get_num_threads() == n


def test_bits_identical_at_every_count_and_limit(rng, restore_threads):
    """The kernels' results do not depend on the thread count (contiguous ranges, a fixed
    reduction order): 1, 2, 3 threads, a threadpoolctl limit and another Python thread give
    the same bits."""
    a = rng.standard_normal((257, 301)).astype(np.float32)
    b = rng.standard_normal((301, 263)).astype(np.float32)
    x = rng.standard_normal(70001).astype(np.float32)
    lab = rng.integers(0, 263, 257)

    def run():
        c = kernels.sgemm(a, b)
        return [c, kernels.relu_forward(x), kernels.cross_entropy(c, lab)[1], kernels.bias_grad(c)]

    fastmlp.set_num_threads(1)
    want = run()
    results = []
    for n in (2, 3):
        fastmlp.set_num_threads(n)
        results.append(run())
        t = threading.Thread(target=lambda: results.append(run()))
        t.start()
        t.join()
    try:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):
            results.append(run())
    except ImportError:
        pass
    for got in results:
        for g, w in zip(got, want):
            assert g.tobytes() == w.tobytes()


# ---------------------------------------------------- default count (14) --


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def fake_v2(tmp_path, levels, path="/a/b"):
    """A cgroup v2 tree: /proc/self/cgroup says 0::path; levels {relative dir: cpu.max}."""
    root = tmp_path / "cg"
    for rel, content in levels.items():
        write(str(root / rel.strip("/") / "cpu.max") if rel.strip("/") else str(root / "cpu.max"), content)
    os.makedirs(root / path.strip("/"), exist_ok=True)
    proc = tmp_path / "cgroup"
    proc.write_text(f"0::{path}\n")
    return str(root), str(proc)


@pytest.mark.parametrize("levels,want", [
    ({"a/b": "100000 100000\n"}, 1.0),
    ({"a/b": "150000 100000\n"}, 1.5),
    ({"a/b": "max 100000\n"}, None),
    ({"a/b": "max 100000\n", "a": "50000 100000\n"}, 0.5),       # a parent's quota limits too
    ({"a/b": "300000 100000\n", "a": "200000 100000\n", "": "400000 100000\n"}, 2.0),
    ({"a/b": "garbage\n"}, None),
    ({"a/b": "100000\n"}, None),
    ({"a/b": "-5 100000\n"}, None),
    ({}, None),
])
def test_cgroup_v2_quota(tmp_path, levels, want):
    root, proc = fake_v2(tmp_path, levels)
    assert _core._cgroup_cpu_limit(root, proc) == want
    d = _core._default_num_threads(None, root, proc)
    assert d["quota"] == want
    assert d["count"] == expected_auto_default(want)
    # an explicit OMP_NUM_THREADS wins over the quota
    assert _core._default_num_threads("3", root, proc)["count"] == 3


def test_cgroup_v2_container_path_missing_falls_back_to_the_mount(tmp_path):
    """In a container without a cgroup namespace /proc/self/cgroup shows the host's path,
    which does not exist under the container's mount: the mount's own files count."""
    root = tmp_path / "cg"
    write(str(root / "cpu.max"), "100000 100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/docker/0123abcd\n")
    assert _core._cgroup_cpu_limit(str(root), str(proc)) == 1.0


@pytest.mark.parametrize("ctrl", ["cpu", "cpu,cpuacct", "cpuacct,cpu"])
@pytest.mark.parametrize("quota,period,want", [
    ("100000", "100000", 1.0), ("250000", "100000", 2.5), ("-1", "100000", None),
    ("50000", "0", None), ("x", "100000", None)])
def test_cgroup_v1_quota(tmp_path, ctrl, quota, period, want):
    root = tmp_path / "cg"
    d = root / ctrl / "grp"
    write(str(d / "cpu.cfs_quota_us"), quota + "\n")
    write(str(d / "cpu.cfs_period_us"), period + "\n")
    proc = tmp_path / "cgroup"
    proc.write_text(f"4:memory:/grp\n3:{ctrl}:/grp\n0::/\n")   # hybrid: v1 owns cpu
    assert _core._cgroup_cpu_limit(str(root), str(proc)) == want
    assert _core._default_num_threads(None, str(root), str(proc))["count"] == expected_auto_default(want)


def test_cgroup_unreadable_means_no_quota(tmp_path):
    assert _core._cgroup_cpu_limit(str(tmp_path / "none"), str(tmp_path / "none")) is None
    (tmp_path / "cgroup").write_text("not a cgroup file\n")
    assert _core._cgroup_cpu_limit(str(tmp_path), str(tmp_path / "cgroup")) is None


def test_container_limited_to_one_cpu_defaults_to_one_thread(tmp_path):
    root, proc = fake_v2(tmp_path, {"": "100000 100000\n"}, path="/")
    d = _core._default_num_threads(None, root, proc)
    assert d["count"] == 1 and "quota" in d["source"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_import_in_a_one_cpu_container_starts_no_worker(tmp_path, version):
    """The real import on a fake cgroup tree (FASTMLP_TEST_FS_ROOT stands for "/" when
    the cgroup files are read) limited to 1 CPU: the default is 1 thread and a
    parallel-sized GEMM starts no OpenMP worker."""
    fs = tmp_path / "fs"
    if version == "v2":
        write(str(fs / "sys/fs/cgroup/ctr/cpu.max"), "100000 100000\n")
        write(str(fs / "proc/self/cgroup"), "0::/ctr\n")
    else:
        write(str(fs / "sys/fs/cgroup/cpu,cpuacct/ctr/cpu.cfs_quota_us"), "100000\n")
        write(str(fs / "sys/fs/cgroup/cpu,cpuacct/ctr/cpu.cfs_period_us"), "100000\n")
        write(str(fs / "proc/self/cgroup"), "2:cpu,cpuacct:/ctr\n1:memory:/ctr\n0::/\n")
    r = run_py(THREAD_COUNTER + """
    kernels.sgemm(a, a.T)
    print(fastmlp.get_num_threads(), tasks() - base, fastmlp._core._thread_default()["quota"])
    """, timeout=60, FASTMLP_TEST_FS_ROOT=str(fs))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "0", "1.0"]


def read_real_quota():
    """The quota of this process's own cgroup directory, read independently (root-level
    and own-path files only; None: unlimited or unreadable)."""
    try:
        lines = open("/proc/self/cgroup").read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, ctrl, path = line.split(":", 2)
        if "cpu" in ctrl.split(","):
            for m in (ctrl, "cpu", "cpu,cpuacct"):
                d = "/sys/fs/cgroup/" + m
                if os.path.isdir(d):
                    d2 = d + path if os.path.isdir(d + path) else d
                    try:
                        q = int(open(d2 + "/cpu.cfs_quota_us").read())
                        p = int(open(d2 + "/cpu.cfs_period_us").read())
                    except OSError:
                        return None
                    return q / p if q > 0 and p > 0 else None
            return None
    for line in lines:
        if line.startswith("0::"):
            path = line[3:]
            d = "/sys/fs/cgroup" + path if os.path.isdir("/sys/fs/cgroup" + path) else "/sys/fs/cgroup"
            try:
                q, p = open(d + "/cpu.max").read().split()
            except (OSError, ValueError):
                return None
            return int(q) / int(p) if q != "max" else None
    return None


@pytest.mark.skipif(not os.path.exists("/proc/self/cgroup"), reason="no /proc/self/cgroup")
def test_real_cgroup_and_the_default_at_import():
    """The real /sys/fs/cgroup: the parser agrees with a direct read of this process's
    cgroup, and a fresh import without OMP_NUM_THREADS uses the automatic default."""
    got = _core._cgroup_cpu_limit("/sys/fs/cgroup", "/proc/self/cgroup")
    want = read_real_quota()
    if want is not None and got is not None:  # an ancestor may limit further
        assert got <= want
    else:
        assert got == want or (want is None and got is not None)
    r = run_py("import fastmlp; print(fastmlp.get_num_threads())", timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == expected_auto_default(got)


def test_affinity_set_before_import():
    r = run_py(textwrap.dedent(f"""
        import os
        os.sched_setaffinity(0, {{{CPUS[0]}}})
        import fastmlp
        print(fastmlp.get_num_threads(), fastmlp._core._thread_default()["affinity"])
        """) + textwrap.dedent(SGEMM_CHECK), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0].split() == ["1", "1"]
    assert lines[1].split() == ["1", "1"]


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) not installed")
@pytest.mark.parametrize("ncpus", [1, 2])
def test_taskset(ncpus):
    if len(CPUS) < ncpus:
        pytest.skip(f"needs {ncpus} CPUs")
    cpus = ",".join(map(str, CPUS[:ncpus]))
    r = run_py("import fastmlp; print(fastmlp.get_num_threads())", timeout=60,
               prefix=("taskset", "-c", cpus))
    assert r.returncode == 0, r.stderr
    want = expected_auto_default(_core._thread_default()["quota"])
    assert int(r.stdout) == min(ncpus, want)


# ------------------------------------------------------------ fork (15.9) --


def test_forked_child_runs_kernels_after_parallel_parent():
    """After a parallel sgemm in the parent, a multiprocessing child started with fork
    runs parallel-sized kernels and a fused epoch correctly on one thread (it hung forever
    on its first parallel kernel: libgomp's pool does not survive fork)."""
    r = run_py("""
        import multiprocessing as mp, os, numpy as np, fastmlp
        from fastmlp import kernels, nn, optim
        rng = np.random.default_rng(0)
        a = rng.standard_normal((300, 400)).astype(np.float32)
        b = rng.standard_normal((400, 500)).astype(np.float32)
        x = rng.standard_normal(200001).astype(np.float32)
        big = rng.standard_normal((768, 768)).astype(np.float32)  # the packed GEMM path
        X = rng.standard_normal((1024, 200)).astype(np.float32); y = rng.integers(0, 10, 1024)
        def fit():  # shuffled batches of 256 x 200: the parallel row gather too
            fastmlp.manual_seed(3)
            m = nn.Sequential(nn.Linear(200, 256), nn.ReLU(), nn.Linear(256, 10))
            fastmlp.train_epoch(m, X, y, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                                batch_size=256, seed=5)
            return m[0].weight.data.tobytes()
        def packed():  # every ISA path's large GEMM (avx2 and generic: the omp-for packed path)
            out = []
            for isa in fastmlp.available_cpu_capabilities():
                fastmlp._set_cpu_capability(isa)
                out.append(kernels.sgemm(big, big).tobytes())
            return out
        def work():
            return (kernels.sgemm(a, b).tobytes(), packed(), kernels.relu_forward(x).tobytes(), fit())
        parent = work()
        def child(q):
            q.put((fastmlp.get_num_threads(), fastmlp._core._forked_child(), work() == parent))
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        print(*q.get(timeout=60))
        p.join(30)
        print(p.exitcode, fastmlp._core._forked_child())
        pid = os.fork()
        if pid == 0:
            ok = work() == parent and fastmlp.get_num_threads() == 1
            fastmlp.set_num_threads(2)          # accepted, but the child stays on one thread
            ok = ok and work() == parent and fastmlp.get_num_threads() == 1
            os._exit(0 if ok else 3)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "True", "True", "0", "False", "0"]


# --------------------------------------------------------- Ctrl-C (15.14) --


def test_ctrl_c_stops_a_fused_epoch_within_a_few_steps_in_a_consistent_state():
    """SIGINT during a long fused epoch raises KeyboardInterrupt soon (it used to wait for
    the epoch's end), with ``fastmlp_steps`` completed steps; the model, the optimizer
    state and the dropout generator are then bitwise those of an epoch over exactly those
    steps' rows (replayed here in a second model)."""
    r = run_py("""
        import os, signal, threading, time, numpy as np, fastmlp
        from fastmlp import nn, optim
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4096, 256)).astype(np.float32); y = rng.integers(0, 10, 4096)
        # 25,600 steps: several seconds uninterrupted on a quiet 2-core machine, minutes on a
        # loaded one; the signal comes 0.3 s in, so only a failure runs them all
        perm = np.tile(rng.permutation(4096), 400)
        def model():
            fastmlp.manual_seed(1)
            m = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10))
            return m, optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        m, opt = model()
        fired = []
        def fire():
            time.sleep(0.3); fired.append(time.monotonic()); os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire).start()
        try:
            fastmlp.train_epoch(m, X, y, nn.CrossEntropyLoss(), opt, batch_size=64, perm=perm)
            print("not interrupted")
        except KeyboardInterrupt as e:
            lag = time.monotonic() - fired[0]
            steps = e.fastmlp_steps
            gen = fastmlp.nn.init.generator.bit_generator.state
            m2, opt2 = model()
            fastmlp.train_epoch(m2, X, y, nn.CrossEntropyLoss(), opt2, batch_size=64, perm=perm[:steps * 64])
            same = all(p.data.tobytes() == q.data.tobytes() for p, q in zip(m.parameters(), m2.parameters()))
            buf = all(opt.state[p]["momentum_buffer"].tobytes() == opt2.state[q]["momentum_buffer"].tobytes()
                      for p, q in zip(m.parameters(), m2.parameters()))
            print("interrupted", int(0 < steps < len(perm) // 64), int(lag < 5.0), int(same), int(buf),
                  int(gen == fastmlp.nn.init.generator.bit_generator.state), round(lag, 3), steps)
        """, timeout=300)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[:6] == ["interrupted", "1", "1", "1", "1", "1"], r.stdout
