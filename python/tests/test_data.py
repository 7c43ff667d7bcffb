"""test_data.py — sten.evaluate against the metrics' definitions
(docs/evaluate.md) computed in NumPy, sten.synth (deterministic, shaped as
asked) and sten.split (each protocol's rule checked record by record)."""
import numpy as np
import pytest
import scipy.sparse as sp

import sten


def reference_metrics(R, truth, k, n_items):
    """docs/evaluate.md's definitions, user by user."""
    out = {f"{m}@{k}": [] for m in ("precision", "recall", "recall_trunc", "ndcg", "map", "hit_rate")}
    mrr, seen = [], set()
    for rec, t in zip(R, truth):
        rec = [i for i in rec.tolist()]
        if -1 in rec:
            rec = rec[:rec.index(-1)]
        seen.update(rec[:k])
        if not t:
            continue
        hits = [i in t for i in rec[:k]]
        h = sum(hits)
        m = min(k, len(t))
        out[f"precision@{k}"].append(h / k)
        out[f"recall@{k}"].append(h / len(t))
        out[f"recall_trunc@{k}"].append(h / m)
        dcg = sum(1 / np.log2(j + 2) for j, x in enumerate(hits) if x)
        out[f"ndcg@{k}"].append(dcg / sum(1 / np.log2(j + 2) for j in range(m)))
        out[f"map@{k}"].append(sum(np.mean(hits[:j + 1]) for j, x in enumerate(hits) if x) / m)
        out[f"hit_rate@{k}"].append(float(h > 0))
        first = next((j for j, i in enumerate(rec) if i in t), None)
        mrr.append(0.0 if first is None else 1 / (first + 1))
    res = {key: float(np.mean(v)) for key, v in out.items()}
    res["mrr"] = float(np.mean(mrr))
    res["coverage"] = len(seen) / n_items
    return res


def test_evaluate_matches_the_definitions():
    rng = np.random.default_rng(0)
    users, items = 60, 40
    R = np.stack([rng.permutation(items)[:15] for _ in range(users)]).astype(np.int32)
    R[3, 9:] = -1  # a short list (recommend's padding)
    truth = [set(rng.choice(items, rng.integers(1, 12), replace=False).tolist()) for _ in range(users)]
    truth[5] = set()  # a user without held-out items
    rows = np.repeat(np.arange(users), [len(t) for t in truth])
    H = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, np.concatenate([sorted(t) for t in truth]))),
                      shape=(users, items))
    m = sten.evaluate(R, H, k=[5, 10])
    assert m["users"] == users - 1 and m["users_without_truth"] == 1
    for k in (5, 10):
        ref = reference_metrics(R, truth, k, items)
        for key in (f"precision@{k}", f"recall@{k}", f"recall_trunc@{k}", f"ndcg@{k}", f"map@{k}",
                    f"hit_rate@{k}", "mrr"):
            assert m[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
    assert m["coverage"] == pytest.approx(reference_metrics(R, truth, 10, items)["coverage"])
    assert sten.evaluate(R, H, k=5)["ndcg@5"] == m["ndcg@5"]
    with pytest.raises(sten.Error) as e:
        sten.evaluate(R, H, k=5, n_items=10)  # ids past the catalogue
    assert e.value.status_name == "STEN_E_RANGE"
    with pytest.raises(ValueError):
        sten.evaluate(R[:3], H, k=5)


def test_synth_is_deterministic_and_shaped():
    a = sten.synth(users=300, items=120, interactions=6000, seed=5, threads=1)
    b = sten.synth(users=300, items=120, interactions=6000, seed=5, threads=2)
    assert len(a) == len(b) and (a.user == b.user).all() and (a.item == b.item).all()
    assert (a.rating == b.rating).all() and (a.timestamp == b.timestamp).all()
    assert 0.7 * 6000 < len(a) <= 1.05 * 6000  # a target: users saturate a catalogue this small
    assert a.user.max() < 300 and a.item.max() < 120 and a.n_users == 300 and a.n_items == 120
    assert set(np.unique(a.rating * 2).tolist()) <= set(range(1, 11))  # half stars, 0.5 .. 5
    X = a.to_csr()
    assert X.shape == (300, 120) and (X.data == 1).all() and X.indices.dtype == np.int32
    counts = np.bincount(a.item, minlength=120)
    assert counts[:12].sum() > counts[-12:].sum()  # popularity falls with the item id (power law)
    c = sten.synth(users=300, items=120, interactions=6000, seed=6)
    assert not (len(c) == len(a) and (c.item == a.item).all())
    with pytest.raises(sten.Error):
        sten.synth(users=10, items=5, interactions=10)  # items >= 10


def log_of(n_users=80, n_items=50, seed=1):
    rng = np.random.default_rng(seed)
    n = 1500
    return sten.Interactions.from_arrays(rng.integers(0, n_users, n), rng.integers(0, n_items, n),
                                         rng.integers(1, 11, n) / 2, rng.integers(0, 10 ** 6, n))


def test_split_protocols():
    log = log_of()
    r = sten.split(log, protocol="random", fraction=0.25, seed=3)
    # repeated pairs merged into their latest record; sorted by user then time
    pairs = set(zip(log.user.tolist(), log.item.tolist()))
    assert len(r.interactions) == len(pairs)
    u, t = r.interactions.user, r.interactions.timestamp
    assert (np.diff(u.astype(np.int64)) >= 0).all()
    assert all((np.diff(t[u == x]) >= 0).all() for x in np.unique(u))
    for x in np.unique(u):
        n = (u == x).sum()
        want = 0 if n < 2 else min(max(int(np.floor(0.25 * n + 0.5)), 1), n - 1)  # C's llround
        assert (r.part[u == x] == sten.data.TEST).sum() == want, x
    assert set(np.unique(r.part).tolist()) <= {sten.data.TRAIN, sten.data.TEST}
    assert r.train.nnz + r.test.nnz == len(pairs) and r.train.shape == (log.n_users, log.n_items)
    again = sten.split(log, protocol="random", fraction=0.25, seed=3)
    assert (again.part == r.part).all()
    assert (sten.split(log, protocol="random", fraction=0.25, seed=4).part != r.part).any()
    # leave-one-out: each user's latest record
    loo = sten.split(log, protocol="loo")
    lu, lt = loo.interactions.user, loo.interactions.timestamp
    for x in np.unique(lu):
        sel = lu == x
        if sel.sum() >= 2:
            test = np.flatnonzero(sel & (loo.part == sten.data.TEST))
            assert len(test) == 1 and lt[test[0]] == lt[sel].max()
    strong = sten.split(log, protocol="strong", valid_users=8, test_users=8, positive=3.5)
    assert (strong.interactions.rating > 3.5).all()
    assert strong.valid_users == 8 and strong.test_users == 8
    parts = set(np.unique(strong.part).tolist())
    assert {sten.data.TRAIN, sten.data.VALID_FOLDIN, sten.data.VALID_HOLDOUT, sten.data.TEST_FOLDIN,
            sten.data.TEST_HOLDOUT} <= parts
    with pytest.raises(ValueError):
        sten.split(log, protocol="kfold")
