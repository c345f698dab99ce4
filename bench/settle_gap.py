"""Why ``fastmlp bench`` timed a 1-thread GEMM slower than a tight loop: per-call times
after each way of waiting between timings (issue 12, session 5).

    PYTHONPATH=python python bench/settle_gap.py [N=1024 R=12 in the environment]

Each protocol runs some calls of a 1-thread ``kernels.sgemm`` (N x N x N, C
preallocated) after: nothing (5 back to back), a 50 ms ``time.sleep``,
``settle()``, a NumPy matmul of the same operands, a NumPy matmul then
``settle()``, a 50 ms busy spin. The protocols alternate in rotated order. Per
call: the median wall rate and the rate per CPU-second of the calling thread (% of
112.4 GFLOP/s), the median time the thread waited on the run queue
(/proc/thread-self/schedstat), the mean steal time. Linux only.
"""
import sys, time, numpy as np, os
import fastmlp
from fastmlp import kernels
from fastmlp.tools.bench.harness import settle
import threadpoolctl
N = int(os.environ.get("N", 1024))
fastmlp.set_num_threads(1)
lim = threadpoolctl.threadpool_limits(1, user_api="blas")
rng = np.random.default_rng(0)
a = rng.standard_normal((N, N)).astype(np.float32)
b = rng.standard_normal((N, N)).astype(np.float32)
c = np.empty((N, N), np.float32)
f = lambda: kernels.sgemm(a, b, c)
g = lambda: np.matmul(a, b, out=c)
peak = float(os.environ.get("PEAK", 112.4))  # the dev machine's 1-thread peak_gflops
fl = 2.0 * N**3
SS = f"/proc/self/task/{__import__('threading').get_native_id()}/schedstat"
def sched():
    with open(SS) as fh: r, w, n = fh.read().split()
    return int(w) * 1e-9
def steal():
    with open("/proc/stat") as fh: v = fh.readline().split()
    return int(v[8]) / os.sysconf("SC_CLK_TCK")
def timed(fn):
    t0 = time.perf_counter(); c0 = time.thread_time(); w0 = sched(); s0 = steal()
    fn()
    return time.perf_counter() - t0, time.thread_time() - c0, sched() - w0, steal() - s0
def spin(s):
    t = time.perf_counter()
    while time.perf_counter() - t < s: pass
protos = {
  "tight":      lambda: [timed(f) for _ in range(5)],
  "sleep50":    lambda: (time.sleep(0.05), [timed(f) for _ in range(3)])[1],
  "settle":     lambda: (settle(0.05), [timed(f) for _ in range(3)])[1],
  "numpy":      lambda: (g(), [timed(f) for _ in range(3)])[1],
  "numpy+settle": lambda: (g(), settle(0.05), [timed(f) for _ in range(3)])[2],
  "spin50":     lambda: (spin(0.05), [timed(f) for _ in range(3)])[1],
}
for _ in range(3): f(); g()
res = {k: [] for k in protos}
names = list(protos)
for r in range(int(os.environ.get("R", 12))):
    k = r % len(names)
    for nm in names[k:] + names[:k]:
        res[nm].append(protos[nm]())
print(f"N={N} load {os.getloadavg()}")
print("proto  call#: median wall %peak (thread-cpu %peak) runqueue-wait(median) steal(mean, all cpus)")
for nm in names:
    arr = np.array(res[nm])  # reps x calls x 3
    cells = []
    for j in range(arr.shape[1]):
        w = np.median(arr[:, j, 0]); cp = np.median(arr[:, j, 1]); wt = np.median(arr[:, j, 2]); st = np.mean(arr[:, j, 3])
        cells.append(f"#{j}: {100*fl/w/1e9/peak:5.1f} ({100*fl/cp/1e9/peak:5.1f}) rq{1e3*wt:4.1f}ms st{1e3*st:3.0f}")
    print(f"{nm:14s} " + " | ".join(cells))
