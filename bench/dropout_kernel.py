"""dropout_forward per ISA path and thread count against np.copyto of the same array
(bench/results/README.md#dropout-philox). Run: PYTHONPATH=python python bench/dropout_kernel.py"""
import time, numpy as np, fastmlp
from fastmlp import kernels
def best(f, reps=30):
    ts=[]
    for _ in range(reps):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return min(ts)
for shape in [(64,128),(256,1024),(4096,1024)]:
    x=np.random.default_rng(0).standard_normal(shape).astype(np.float32); out=np.empty_like(x)
    for th in (1,2):
        fastmlp.set_num_threads(th)
        row=[]
        for isa in fastmlp.available_cpu_capabilities():
            fastmlp._set_cpu_capability(isa)
            t=best(lambda: kernels.dropout_forward(x,0.5,123,out))
            row.append(f"{isa} {t*1e6:8.1f}us ({x.size/t/1e9:5.2f} Gelem/s)")
        tc=best(lambda: np.copyto(out,x))
        print(shape, th, " | ".join(row), f"| np.copyto {tc*1e6:.1f}us")
