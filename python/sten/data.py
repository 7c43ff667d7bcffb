"""data.py — sten's data tools as functions on arrays: ranking metrics of
recommendation lists against held-out items (evaluate), the synthetic
interaction generator (synth) and evaluation splits (split), each the C
library's own code (sten_eval_*, sten_synth, sten_split), the same numbers
`sten evaluate`, `sten synth` and `sten split` give. No file is written."""
from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_double, c_uint32, c_uint64
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Union

import numpy as np

from . import _lib as L
from ._context import Context, u32p

#: numpy's view of sten_interaction (user, item, rating, timestamp; C layout)
RECORD = np.dtype(L.Interaction)


def evaluate(recommended_ids, held_out, k: Union[int, Sequence[int]] = (10, 20),
             n_items: Optional[int] = None) -> Dict[str, float]:
    """Ranking metrics of recommendation lists (docs/evaluate.md).

    Args:
        recommended_ids: users x L item ids, best first (what recommend
            returns); negative ids (recommend's -1 padding) end a row's list.
        held_out: scipy.sparse CSR, users x items: row u holds user u's
            held-out items (values ignored). Users with none are counted
            apart (users_without_truth) and do not enter the averages.
        k: one cut-off or several (at most 16).
        n_items: the catalogue size for coverage and the id range (None:
            held_out's width).
    Returns:
        {"precision@K", "recall@K", "recall_trunc@K" (hits / min(K, |R|),
        Liang et al.), "ndcg@K", "map@K", "hit_rate@K"} for each K, and "mrr"
        (first hit anywhere in the list), "coverage" (distinct items in the
        top max(k) / n_items), "users", "users_without_truth".
    Raises:
        Error: an id at or past n_items (STEN_E_RANGE), a bad k.
    """
    import scipy.sparse as sp
    R = np.asarray(recommended_ids)
    if R.ndim == 1:
        R = R[None, :]
    if not sp.issparse(held_out):
        raise TypeError("held_out must be a scipy.sparse CSR matrix")
    H = held_out.tocsr()
    if R.shape[0] != H.shape[0]:
        raise ValueError(f"recommended_ids has {R.shape[0]} rows, held_out {H.shape[0]}")
    ks = np.atleast_1d(np.asarray(k, dtype=np.uint32))
    n_items = int(H.shape[1] if n_items is None else n_items)
    lengths = np.where((R < 0).any(axis=1), np.argmax(R < 0, axis=1), R.shape[1])
    ranked = np.ascontiguousarray(np.where(R < 0, 0, R), dtype=np.uint32)
    truth = np.ascontiguousarray(H.indices, dtype=np.uint32)
    ctx = Context(1)
    ev = ctypes.c_void_p()
    with ctx.lock:
        ctx.check(L.lib.sten_eval_new(ctx.ctx, u32p(ks), len(ks), n_items, byref(ev)))
        try:
            base = ranked.ctypes.data
            tbase = truth.ctypes.data
            step = ranked.strides[0]
            U32 = POINTER(c_uint32)
            for u in range(R.shape[0]):
                lo, hi = int(H.indptr[u]), int(H.indptr[u + 1])
                ctx.check(L.lib.sten_eval_add(ctx.ctx, ev, ctypes.cast(base + u * step, U32), int(lengths[u]),
                                              ctypes.cast(tbase + 4 * lo, U32), hi - lo))
            at = (L.RankMetrics * len(ks))()
            mrr, cov, users, without = c_double(), c_double(), c_uint64(), c_uint64()
            L.lib.sten_eval_result(ev, at, byref(mrr), byref(cov), byref(users), byref(without))
        finally:
            L.lib.sten_eval_free(ctx.ctx, ev)
    out: Dict[str, float] = {}
    for m in at:
        for name in ("precision", "recall", "recall_trunc", "ndcg", "map", "hit_rate"):
            out[f"{name}@{m.k}"] = float(getattr(m, name))
    out.update(mrr=float(mrr.value), coverage=float(cov.value), users=int(users.value),
               users_without_truth=int(without.value))
    return out


@dataclass
class Interactions:
    """An interaction log as arrays, one entry per record: user and item
    (0-based ids), rating (NaN where there is none) and timestamp (0 where
    there is none); n_users and n_items bound the ids."""
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    n_users: int
    n_items: int

    @classmethod
    def from_arrays(cls, user, item, rating=None, timestamp=None, n_users: Optional[int] = None,
                    n_items: Optional[int] = None) -> "Interactions":
        """Records from parallel arrays (rating and timestamp optional)."""
        user = np.asarray(user, dtype=np.int64)
        item = np.asarray(item, dtype=np.int64)
        n = len(user)
        if len(item) != n:
            raise ValueError("user and item must have the same length")
        if n and (user.min() < 0 or item.min() < 0 or user.max() >= 2 ** 32 - 1 or item.max() >= 2 ** 32 - 1):
            raise ValueError("user and item ids must be in [0, 2^32 - 1)")
        rating = np.full(n, np.nan, np.float32) if rating is None else np.asarray(rating, dtype=np.float32)
        timestamp = np.zeros(n, np.int64) if timestamp is None else np.asarray(timestamp, dtype=np.int64)
        if len(rating) != n or len(timestamp) != n:
            raise ValueError("rating and timestamp must have one value per record")
        nu = int(user.max()) + 1 if n else 0
        ni = int(item.max()) + 1 if n else 0
        return cls(user.astype(np.uint32), item.astype(np.uint32), rating, timestamp,
                   max(nu, n_users or 0), max(ni, n_items or 0))

    def __len__(self) -> int:
        return len(self.user)

    def _records(self) -> np.ndarray:
        rec = np.empty(len(self), RECORD)
        rec["user"], rec["item"], rec["rating"], rec["timestamp"] = self.user, self.item, self.rating, self.timestamp
        return rec

    def to_csr(self, mask: Optional[np.ndarray] = None, values: str = "ones"):
        """The records (those where mask is True) as a users x items CSR
        matrix: values "ones" (implicit feedback; a repeated pair counts once)
        or "rating"."""
        import scipy.sparse as sp
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        u, i = self.user[sel], self.item[sel]
        v = np.ones(len(u), np.float32) if values == "ones" else self.rating[sel].astype(np.float32)
        X = sp.csr_matrix((v, (u.astype(np.int64), i.astype(np.int64))), shape=(self.n_users, self.n_items))
        X.sum_duplicates()
        if values == "ones":
            X.data[:] = 1
        X.indices = X.indices.astype(np.int32)
        return X


def synth(users: int = 1000, items: int = 500, interactions: int = 20000, clusters: Optional[int] = None,
          seed: Optional[int] = None, popularity_exponent: Optional[float] = None, taste: Optional[float] = None,
          threads: Optional[int] = None) -> Interactions:
    """sten's synthetic interaction log (docs/synth.md): power-law item
    popularity, log-normal user activity, latent taste clusters, ratings in
    half stars and timestamps. Deterministic for a seed, whatever the thread
    count; the records `sten synth` writes, with ids 0-based (its labels are
    id + 1). None keeps sten's default (clusters 20, popularity_exponent 1,
    taste 0.8, its seed)."""
    o = L.lib.sten_synth_defaults()
    o.users, o.items, o.interactions = int(users), int(items), int(interactions)
    for name, v in (("clusters", clusters), ("seed", seed), ("popularity_exponent", popularity_exponent),
                    ("taste", taste)):
        if v is not None:
            setattr(o, name, v)
    ctx = Context(threads)
    out = L.Interactions()
    with ctx.lock:
        try:
            ctx.check(L.lib.sten_synth(ctx.ctx, byref(o), byref(out)))
            rec = np.ctypeslib.as_array(ctypes.cast(out.x, POINTER(ctypes.c_uint8)),
                                        shape=(out.n * RECORD.itemsize,)).view(RECORD).copy() if out.n else \
                np.empty(0, RECORD)
        finally:
            L.lib.sten_interactions_free(ctx.ctx, byref(out))
    return Interactions(rec["user"].copy(), rec["item"].copy(), rec["rating"].copy(), rec["timestamp"].copy(),
                        int(users), int(items))


#: sten_split's parts (STEN_PART_*)
TRAIN, TEST, VALID_FOLDIN, VALID_HOLDOUT, TEST_FOLDIN, TEST_HOLDOUT, DROPPED = 0, 1, 2, 3, 4, 5, 9
_PROTOCOLS = {"random": 0, "loo": 1, "temporal": 2, "timecut": 3, "strong": 4}


@dataclass
class Split:
    """What split returns: the records as sten_split leaves them (repeated
    (user, item) pairs merged into their latest, sorted by user then time;
    "strong" keeps only positive ratings) and each one's part (TRAIN, TEST,
    VALID_FOLDIN, VALID_HOLDOUT, TEST_FOLDIN, TEST_HOLDOUT or DROPPED)."""
    interactions: Interactions
    part: np.ndarray
    users: int = 0        # strong: users kept
    valid_users: int = 0  # strong: users held out for validation
    test_users: int = 0   # strong: users held out for test

    def matrix(self, *parts: int, values: str = "ones"):
        """The records of the given parts as a users x items CSR matrix."""
        return self.interactions.to_csr(np.isin(self.part, parts), values)

    @property
    def train(self):
        return self.matrix(TRAIN)

    @property
    def test(self):
        return self.matrix(TEST)


def split(log: Interactions, protocol: str = "random", fraction: Optional[float] = None,
          last: Optional[int] = None, cut: Optional[float] = None, seed: Optional[int] = None,
          valid_users: Optional[int] = None, test_users: Optional[int] = None,
          positive: Optional[float] = None) -> Split:
    """sten's evaluation splits (docs/evaluate.md), the parts `sten split`
    writes: "random" (per user, fraction of its items at random), "loo" (the
    latest item), "temporal" (the latest `last` items or fraction), "timecut"
    (everything at or after `cut`, or the last fraction of the time range),
    "strong" (Liang et al. 2018: positives > `positive`, valid_users and
    test_users held out whole, their items split 80/20 fold-in/held-out).
    None keeps sten's default (fraction 0.2, seed 98765, ...). The log is
    not modified: the result holds the merged, sorted copy."""
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(_PROTOCOLS)}, not {protocol!r}")
    o = L.lib.sten_split_defaults()
    o.protocol = _PROTOCOLS[protocol]
    for name, v in (("fraction", fraction), ("last", last), ("cut", cut), ("seed", seed),
                    ("valid_users", valid_users), ("test_users", test_users), ("positive", positive)):
        if v is not None:
            setattr(o, name, v)
    rec = log._records()
    part = np.zeros(max(1, len(rec)), np.uint8)
    ctx = Context(1)
    users, items = ctypes.c_void_p(), ctypes.c_void_p()
    stats = L.SplitStats()
    with ctx.lock:
        try:
            # the indexes give sten_split the id ranges (it reads their spans)
            for ix, n in ((users, log.n_users), (items, log.n_items)):
                ctx.check(L.lib.sten_index_new(ctx.ctx, byref(ix)))
                _span_index(ctx, ix, n)
            inter = L.Interactions(x=rec.ctypes.data_as(POINTER(L.Interaction)), n=len(rec), cap=len(rec),
                                   users=users, items=items)
            ctx.check(L.lib.sten_split(ctx.ctx, byref(o), byref(inter), part.ctypes.data_as(POINTER(ctypes.c_uint8)),
                                       byref(stats)))
            n = int(inter.n)
        finally:
            L.lib.sten_index_free(ctx.ctx, users)
            L.lib.sten_index_free(ctx.ctx, items)
    rec = rec[:n]
    out = Interactions(rec["user"].copy(), rec["item"].copy(), rec["rating"].copy(), rec["timestamp"].copy(),
                       log.n_users, log.n_items)
    return Split(out, part[:n].copy(), stats.users, stats.valid_users, stats.test_users)


def _span_index(ctx: Context, ix: ctypes.c_void_p, n: int) -> None:
    """An index whose span is n: labels "0" .. "n-1" numbered 0 .. n-1."""
    got = c_uint32()
    for i in range(n):
        s = str(i).encode()
        ctx.check(L.lib.sten_index_add(ctx.ctx, ix, s, len(s), byref(got)))
