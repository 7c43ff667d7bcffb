"""test_sten.py — the Python package against the freshly built libsten (no
install): the acceptance snippet, the struct layouts against C, zero-copy
input, errors as sten.Error, save/load, the GIL, and bit-identity with the
command line (generate-netcdf + train: the same weights; predict: the same
lists). Run by CTest (tests/CMakeLists.txt) with STEN_LIBRARY = libsten.so,
STEN_BIN = the sten command, STEN_ABI = tests/py_abi; Debian's python3-numpy,
python3-scipy and python3-pytest only."""
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

import sten
from sten import _lib
from sten.network import _CsrView

STEN = os.environ.get("STEN_BIN", "")
ABI = os.environ.get("STEN_ABI", "")

CONFIG = """{ "Version": 0.8, "Name": "AE", "Kind": "FeedForward",
  "Layers": [{"Name": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true},
             {"Name": "Hidden", "N": 32, "Activation": "Sigmoid", "Sparse": true},
             {"Name": "Output", "N": "auto", "DataSet": "gl_output", "Activation": "Sigmoid"}],
  "Training": {"Optimizer": "Adam", "Alpha": 0.003} }
"""


def make_data(users=400, items=300, seed=5):
    """Seeded implicit feedback with popular items and a few taste groups;
    sorted columns, no duplicates, every user at least 3 items."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, items + 1) ** 0.8
    groups = [rng.choice(items, 30, replace=False) for _ in range(5)]
    rows = []
    for u in range(users):
        n = int(rng.integers(3, 30))
        p = pop.copy()
        p[groups[u % 5]] *= 8
        rows.append(np.sort(rng.choice(items, n, replace=False, p=p / p.sum())))
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    X = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows).astype(np.int32), indptr),
                      shape=(users, items))
    return X


@pytest.fixture(scope="module")
def X():
    return make_data()


@pytest.fixture()
def config(tmp_path):
    p = tmp_path / "ae.json"
    p.write_text(CONFIG)
    return p


def check_recs(ids, scores, X, rows, N):
    assert ids.shape == (len(rows), N) and scores.shape == (len(rows), N)
    assert ids.dtype == np.int32 and scores.dtype == np.float32
    assert ((ids >= 0) & (ids < X.shape[1])).all(), ids
    assert (np.diff(scores, axis=1) <= 0).all(), scores
    for r, u in enumerate(rows):
        liked = set(X[u].indices.tolist())
        assert not liked & set(ids[r].tolist()), (u, liked & set(ids[r].tolist()))
        assert len(set(ids[r].tolist())) == N


def test_acceptance(config, X):
    net = sten.Network.from_config(str(config))
    net.fit(X, epochs=5)
    ids, scores = net.recommend(np.arange(10), X[:10], N=10, filter_already_liked_items=True)
    check_recs(ids, scores, X, range(10), 10)
    # the whole matrix with user numbers picks those rows: the same answer
    ids2, scores2 = net.recommend(np.arange(10), X, N=10)
    assert (ids2 == ids).all() and (scores2 == scores).all()
    # without the filter, a user's own items come back (an autoencoder learns them)
    ids3, _ = net.recommend(np.arange(10), X[:10], N=10, filter_already_liked_items=False)
    assert any(set(ids3[r].tolist()) & set(X[r].indices.tolist()) for r in range(10))


def test_struct_layouts_match_the_header():
    if not ABI:
        pytest.skip("STEN_ABI not set (tests/py_abi)")
    c = json.loads(subprocess.run([ABI], check=True, capture_output=True, text=True).stdout)
    assert set(c) == set(_lib.STRUCTS)
    for name, fields in c.items():
        T = _lib.STRUCTS[name]
        assert fields.pop("sizeof") == __import__("ctypes").sizeof(T), name
        for f, off in fields.items():
            assert getattr(T, f).offset == off, (name, f)


def test_zero_copy_input(X):
    v = _CsrView(X)
    assert not v.valued and v.val is None  # all ones: indicator data, values not even read
    assert v.col.ctypes.data == X.indices.ctypes.data  # int32 indices: the same memory
    assert v.converted == ["indptr"]  # int32 indptr: the one conversion (rows + 1 values)
    X64 = X.copy()
    X64.indptr = X64.indptr.astype(np.int64)
    X64.indices = X64.indices.astype(np.int32)
    v64 = _CsrView(X64)
    assert v64.converted == [] and v64.row_ptr.ctypes.data == X64.indptr.ctypes.data
    Xv = X.copy()
    Xv.data = (Xv.data * 2).astype(np.float32)
    vv = _CsrView(Xv)
    assert vv.valued and vv.val.ctypes.data == Xv.data.ctypes.data
    assert _CsrView(Xv.astype(np.float64)).converted == ["indptr", "data"]
    with pytest.raises(TypeError):
        _CsrView(X.tocsc())
    with pytest.raises(TypeError):
        _CsrView(X.toarray())


def test_errors_carry_message_and_status(tmp_path, config, X):
    bad = tmp_path / "typo.json"
    bad.write_text(CONFIG.replace('"Activation": "Sigmoid", "Sparse"', '"Activation": "Sigmod", "Sparse"'))
    with pytest.raises(sten.Error) as e:
        sten.Network.from_config(str(bad))
    assert e.value.status == -4 and e.value.status_name == "STEN_E_PARSE"
    assert f"{bad}:3:" in e.value.message and "Sigmod" in e.value.message, e.value.message
    with pytest.raises(sten.Error) as e:
        sten.Network.from_config(str(tmp_path / "none.json"))
    assert e.value.status < 0 and "none.json" in str(e.value)
    with pytest.raises(sten.Error) as e:
        sten.Network.load(str(config))  # a config is not a model
    assert "ae.json" in e.value.message
    net = sten.Network.from_config(str(config), threads=1).fit(X, epochs=1, batch_size=128)
    assert net.n_items == 384  # 300 items, rounded up to a multiple of 128 as generate-netcdf
    wide = sp.csr_matrix((np.ones(1), np.array([net.n_items + 5]), np.array([0, 1])), shape=(1, net.n_items + 6))
    with pytest.raises(sten.Error) as e:
        net.recommend(np.arange(1), wide, N=5)
    assert e.value.status == -1 and e.value.message == "request row 0: feature 389 (the input is 384 wide)"
    with pytest.raises(sten.Error):
        sten.Network.from_config(str(config)).recommend(np.arange(1), X[:1])  # not trained


def test_callbacks_and_save_load(tmp_path, config, X):
    seen = []
    net = sten.Network.from_config(str(config), threads=2)
    net.fit(X, epochs=4, batch_size=64, seed=3, callbacks=[seen.append])
    assert [s.epoch for s in seen] == [1, 2, 3, 4] and seen[-1].loss < seen[0].loss
    stop = sten.Network.from_config(str(config), threads=2)
    stop.fit(X, epochs=4, batch_size=64, seed=3, callbacks=[lambda s: s.epoch < 2])
    assert net.epochs_done == 4 and stop.epochs_done == 2  # stopped after epoch 2

    def boom(s):
        raise KeyError("from the callback")
    with pytest.raises(KeyError):
        sten.Network.from_config(str(config)).fit(X, epochs=2, callbacks=[boom])
    path = tmp_path / "m.nc"
    net.save(str(path))
    back = sten.Network.load(str(path), threads=2)
    a = net.recommend(np.arange(50), X[:50], N=7)
    b = back.recommend(np.arange(50), X[:50], N=7)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    one_ids, one_scores = back.recommend(3, X[3], N=7)
    assert one_ids.shape == (7,) and (one_ids == a[0][3]).all()
    # batches of users give the answer of one call
    # (to rounding: a BLAS GEMM may block a 16-row product differently from a 50-row one, as
    # under STEN_KERNELS=portable; ids must agree wherever the scores are not near-ties)
    c = back.recommend(np.arange(50), X[:50], N=7, batch_size=16)
    np.testing.assert_allclose(c[1], a[1], rtol=1e-5, atol=1e-6)
    clear = np.diff(a[1], axis=1).max(axis=1) < -1e-5  # rows without a near-tie
    assert clear.sum() > 25 and (c[0][clear] == a[0][clear]).all()


def test_gil_released_during_fit(config):
    X = make_data(users=3000, items=2000, seed=9)
    net = sten.Network.from_config(str(config), threads=1)
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1
    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        c0, t0 = count[0], time.perf_counter()
        time.sleep(0.2)  # the spinner's rate with the GIL free
        free = (count[0] - c0) / (time.perf_counter() - t0)
        c0, t0 = count[0], time.perf_counter()
        net.fit(X, epochs=12, batch_size=256)
        took = time.perf_counter() - t0
        during = (count[0] - c0) / took
    finally:
        stop.set()
        t.join()
    # held for the whole call, the GIL would let the spinner run only around
    # it (a few ms of the call's Python); released, it runs throughout
    assert took > 0.05 and during > 0.2 * free, (during, free, took)


def run(*args, cwd):
    # STEN_BLAS_CORETYPE=keep: the command keeps the OpenBLAS kernels OpenBLAS
    # picked, as this Python process's library does. Where OpenBLAS does not
    # know the CPU, the command would otherwise re-execute itself onto the
    # CPU's best core type, and whatever product goes through the BLAS (all
    # of them under STEN_KERNELS=portable) would round differently.
    env = dict(os.environ, STEN_BLAS_CORETYPE="keep")
    r = subprocess.run([STEN, *args], cwd=cwd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, (args, r.stderr)
    return r


def ncdump_data(path):
    """The variables' values of a NetCDF file (ncdump's data section)."""
    out = subprocess.run(["ncdump", str(path)], check=True, capture_output=True, text=True).stdout
    return out[out.index("\ndata:"):]


def test_bit_identical_with_the_command_line(tmp_path, config, X):
    if not STEN:
        pytest.skip("STEN_BIN not set")
    U, n = X.shape
    with open(tmp_path / "data.txt", "w") as f:
        for u in range(U):
            f.write(f"u{u}\t" + ":".join(f"i{j}" for j in X[u].indices) + "\n")
    # index files that number users and items as the matrix does
    (tmp_path / "features").write_text("".join(f"i{j}\t{j}\n" for j in range(n)))
    (tmp_path / "samples").write_text("".join(f"u{u}\t{u}\n" for u in range(U)))
    for name in ("gl_input", "gl_output"):
        run("generate-netcdf", "-d", name, "-i", "data.txt", "-o", f"{name}.nc", "-f", "features",
            "-s", "samples", cwd=tmp_path)
    run("train", "-c", str(config), "-i", "gl_input.nc", "-o", "gl_output.nc", "-n", "cli.nc", "-b", "64",
        "-e", "3", "-t", "2", "--seed", "77", cwd=tmp_path)
    net = sten.Network.from_config(str(config), threads=2).fit(X, epochs=3, batch_size=64, seed=77)
    net.save(str(tmp_path / "py.nc"))
    cli_data, py_data = ncdump_data(tmp_path / "cli.nc"), ncdump_data(tmp_path / "py.nc")
    assert "weight0_weights =" in cli_data
    # every weight, bias and optimizer state, bit for bit (the first differing
    # line, not pytest's diff of megabytes of text, which takes hours)
    if cli_data != py_data:
        first = next(i for i, (a, b) in enumerate(zip(cli_data.splitlines(), py_data.splitlines())) if a != b)
        raise AssertionError("cli.nc and py.nc differ from ncdump line %d: %r vs %r"
                             % (first, cli_data.splitlines()[first][:200], py_data.splitlines()[first][:200]))

    def predict(model, out):
        run("predict", "-n", model, "-r", "data.txt", "-i", "features", "-o", "features", "--exclude-seen",
            "-s", out, "-k", "10", "-p", "%.9g", cwd=tmp_path)
        recs = {}
        for line in (tmp_path / out).read_text().splitlines():
            user, rest = line.split("\t")
            pairs = [p.split(",") for p in rest.split(":") if p]
            recs[int(user[1:])] = ([int(i[1:]) for i, _ in pairs], [s for _, s in pairs])
        return recs

    cli = predict("cli.nc", "cli.txt")
    assert predict("py.nc", "py.txt") == cli  # the CLI reads a Python-trained model
    ids, scores = net.recommend(np.arange(U), X, N=10)
    assert len(cli) == U
    for u in range(U):
        assert ids[u].tolist() == cli[u][0], u
        assert ["%.9g" % s for s in scores[u].tolist()] == cli[u][1], u
