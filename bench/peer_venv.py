"""bench/peer_venv.py VENV [VERSION] -- installs the benchmarks' PyTorch peer:
the current torch from PyPI (or torch==VERSION) into the virtual environment
VENV, for bench/*.sh with PEER=pypi; never run by the tests. Run it with the
python3 first on PATH (PyPI's torch wants Python >= 3.11).

PyPI's Linux torch is the CUDA build: its requirements pull ~3 GB of CUDA
packages that a CPU run never calls but that libtorch must load. The lean
way, in steps, each only if `import torch` still fails after the one before:
  1. torch --no-deps, its pure-Python requirements (sympy, networkx, jinja2,
     ...), and numpy (the benchmarks' data);
  2. the CUDA packages a system CUDA toolkit lacks or has too old (NCCL,
     cuSPARSELt, NVSHMEM, cuFile: ~0.5 GB), pinned as torch pins them, the
     rest of CUDA (cudart, cuBLAS, cuDNN, ...) coming from the toolkit;
  3. torch with all its requirements (no toolkit needed: the ~3 GB way).
Prints what it installs and the torch it ends with."""
import os
import subprocess
import sys
import time
import venv

# torch's CUDA requirements that step 2 installs (the rest it takes from the
# system's toolkit); cuFile comes as the 'cufile' extra of cuda-toolkit
MISSING_FROM_TOOLKIT = ("nvidia-nccl", "nvidia-cusparselt", "nvidia-nvshmem")

REQS = r"""
import importlib.metadata as md, sys
from pip._vendor.packaging.requirements import Requirement
pure, cuda, toolkit = [], [], []
for s in md.requires("torch") or []:
    r = Requirement(s)
    if r.marker and not r.marker.evaluate({"extra": ""}):
        continue
    name = r.name.lower()
    if name.startswith("nvidia-") or name.startswith("cuda-") or name == "triton":
        if name.startswith(%r):
            cuda.append(str(r).split(";")[0].strip())
        elif name == "cuda-toolkit" and "cufile" in r.extras:
            toolkit.append("cuda-toolkit[cufile]" + str(r.specifier))
    else:
        pure.append(str(r).split(";")[0].strip())
print(sys.argv[1] == "pure" and " ".join(pure) or " ".join(cuda) + "|" + " ".join(toolkit))
""" % (MISSING_FROM_TOOLKIT,)


def run(*cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def imports(py):
    r = subprocess.run([py, "-c", "import torch"], capture_output=True, text=True)
    if r.returncode:
        print("  import torch fails: " + (r.stderr.strip().splitlines() or ["?"])[-1], flush=True)
    return r.returncode == 0


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    env, version = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    py, pip = os.path.join(env, "bin", "python"), [os.path.join(env, "bin", "python"), "-m", "pip"]
    t0 = time.time()
    if not os.path.exists(py):
        print("creating %s with %s (Python %s)" % (env, sys.executable, sys.version.split()[0]), flush=True)
        venv.create(env, with_pip=True)
    quiet = ["install", "--progress-bar", "off"]
    print("(pip's complaints that torch's CUDA requirements are not installed are expected:"
          " they are left out on purpose)", flush=True)
    run(*pip, *quiet, "--no-deps", "torch" + ("==" + version if version else ""))
    pure = subprocess.run([py, "-c", REQS, "pure"], capture_output=True, text=True, check=True).stdout.split()
    run(*pip, *quiet, *pure, "numpy")
    if not imports(py):
        cuda, toolkit = subprocess.run([py, "-c", REQS, "cuda"], capture_output=True, text=True,
                                       check=True).stdout.strip().split("|")
        if cuda.split():
            run(*pip, *quiet, "--no-deps", *cuda.split())
        if toolkit.split():
            run(*pip, *quiet, *toolkit.split())
    if not imports(py):
        ver = subprocess.run([py, "-m", "pip", "show", "torch"], capture_output=True, text=True).stdout
        ver = next((ln.split()[1] for ln in ver.splitlines() if ln.startswith("Version:")), version)
        run(*pip, *quiet, "torch==" + ver)
    if not imports(py):
        raise SystemExit("peer_venv: torch does not import in %s" % env)
    subprocess.run([py, "-c", "import torch; print('installed torch', torch.__version__)"], check=True)
    print("peer_venv: %.0f s" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
