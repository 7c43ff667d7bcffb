#!/bin/sh
# python_install_check.sh — checks that `pip install ./python` gives a working
# package in a fresh virtual environment, by running the acceptance snippet
# (docs/python.md) there on seeded data. Not part of ctest:
#   scripts/python_install_check.sh            pip install numpy scipy ./python
#                                              (PyPI: numpy, scipy, setuptools;
#                                              libsten built by CMake)
#   scripts/python_install_check.sh --offline  Debian's python3-numpy/-scipy/-setuptools
#                                              (--system-site-packages,
#                                              --no-build-isolation, --no-index)
# STEN_LIBRARY=build/libsten.so bundles that build instead of building one.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "${1:-}" = "--offline" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
    "$tmp/venv/bin/pip" install -q --no-build-isolation --no-index "$root/python"
else
    /usr/bin/python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/pip" install -q numpy scipy "$root/python"
fi
cat >"$tmp/ae.json" <<'JSON'
{ "Version": 0.8, "Name": "AE", "Kind": "FeedForward",
  "Layers": [{"Name": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true},
             {"Name": "Hidden", "N": 32, "Activation": "Sigmoid", "Sparse": true},
             {"Name": "Output", "N": "auto", "DataSet": "gl_output", "Activation": "Sigmoid"}],
  "Training": {"Optimizer": "Adam", "Alpha": 0.003} }
JSON
cd "$tmp"  # not the source tree: the installed package must be the one imported
env -u STEN_LIBRARY "$tmp/venv/bin/python" - <<'PY'
import numpy as np, scipy.sparse as sp, sten
assert "site-packages" in sten.__file__ and "site-packages" in sten.library_path, (sten.__file__, sten.library_path)
X_csr = sp.random(500, 300, density=0.04, format="csr", random_state=1, dtype=np.float32)
X_csr.data[:] = 1
net = sten.Network.from_config("ae.json")
net.fit(X_csr, epochs=5)
ids, scores = net.recommend(np.arange(10), X_csr[:10], N=10, filter_already_liked_items=True)
assert ids.shape == scores.shape == (10, 10) and ids.dtype == np.int32 and scores.dtype == np.float32
assert (np.diff(scores, axis=1) <= 0).all()
assert all(not set(ids[i]) & set(X_csr[i].indices) for i in range(10))
net.save("model.nc")
print("python_install_check: ok,", sten.version(), sten.library_path)
PY
