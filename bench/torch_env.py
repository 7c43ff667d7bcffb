"""bench/torch_env.py -- what the PyTorch peer runs on, printed before a
benchmark: version, threads (torch.get_num_threads() under the exported
OMP_NUM_THREADS / MKL_NUM_THREADS), oneDNN (mkldnn) and the CPU capability
ATen dispatches to, the first relevant lines of torch.__config__.show(), and
the ISA line oneDNN itself prints (ONEDNN_VERBOSE=1 / DNNL_VERBOSE=1 on a tiny
bf16 matmul and convolution, in a child process). Works with PyTorch 1.x and 2.x."""
import os
import subprocess
import sys

import torch

TINY = """
import torch
a = torch.randn(64, 64)
torch.nn.functional.conv2d(torch.randn(2, 8, 16, 16), torch.randn(8, 8, 3, 3))
a.bfloat16() @ a.bfloat16()
"""

cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "n/a")()
print("torch: %s (%s); torch.get_num_threads() %d, interop %d; OMP_NUM_THREADS=%s MKL_NUM_THREADS=%s "
      "OPENBLAS_NUM_THREADS=%s" % (torch.__version__, os.path.dirname(torch.__file__), torch.get_num_threads(),
                                   torch.get_num_interop_threads(), os.environ.get("OMP_NUM_THREADS"),
                                   os.environ.get("MKL_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS")))
print("torch: mkldnn available %s, enabled %s; CPU capability %s; compile %s"
      % (torch.backends.mkldnn.is_available(), torch.backends.mkldnn.enabled, cap,
         "yes" if hasattr(torch, "compile") else "no (PyTorch 1.x)"))
for line in torch.__config__.show().splitlines():
    line = line.strip(" -")
    if line.startswith("Build settings:"):
        keep = ("BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_MKLDNN", "USE_OPENMP", "USE_CUDA", "CXX_COMPILER")
        line = "Build settings: " + ", ".join(f.strip() for f in line.split(":", 1)[1].split(", ")
                                              if f.strip().split("=")[0] in keep)
    elif not any(k in line for k in ("GCC", "Math Kernel", "MKL-DNN", "oneDNN", "OpenMP", "CPU capability",
                                     "LAPACK")):
        continue
    print("torch config: " + line)
env = dict(os.environ, ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
r = subprocess.run([sys.executable, "-c", TINY], env=env, capture_output=True, text=True)
lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "verbose" in ln and ",info," in ln]
isa = [ln for ln in lines if "isa" in ln]
for ln in isa + [ln for ln in lines if "oneDNN v" in ln or "DNNL v" in ln or "runtime:" in ln]:
    print("oneDNN: " + ln)
if not isa:
    print("oneDNN: no ISA line printed (tiny matmul and convolution did not reach oneDNN)")
used = []
for ln in (r.stdout + r.stderr).splitlines():
    f = ln.split(",")
    if ",exec,cpu," in ln and f.index("cpu") + 2 < len(f) and f[f.index("cpu") + 1] != "reorder":
        used.append(f[f.index("cpu") + 1] + " " + f[f.index("cpu") + 2])
if used:
    print("oneDNN: the tiny conv / bf16 matmul ran: " + "; ".join(used))
