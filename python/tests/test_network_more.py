"""test_network_more.py — Network.embed, weights and similar_items against
NumPy computed from the model's own weights, and validation in fit
(patience, keep_best, rank_k) against the rule it states and against
sten.evaluate on recommend's lists. Small seeded data, one thread, so
every number is reproducible."""
import numpy as np
import pytest
import scipy.sparse as sp

import sten
from test_sten import CONFIG, make_data


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "ae.json"
    path.write_text(CONFIG)
    X = make_data()
    net = sten.Network.from_config(str(path), threads=1).fit(X, epochs=4, batch_size=64, seed=11)
    return path, X, net


def dense_input(X, width):
    x = X.toarray().astype(np.float64)
    return np.pad(x, ((0, 0), (0, width - x.shape[1])))


def test_embed_is_the_forward_pass_of_the_weights(trained):
    _, X, net = trained
    W0, b0 = net.weights("Hidden")
    W1, b1 = net.weights()  # the output layer's
    assert W0.shape == (384, 32) and b0.shape == (32,) and W1.shape == (32, 384) and b1.shape == (384,)
    assert W0.dtype == np.float32 and np.abs(W0).max() > 0
    x = dense_input(X[:60], 384)
    h = sigmoid(x @ W0 + b0)
    o = sigmoid(h @ W1 + b1)
    H = net.embed(X[:60])  # layer="Hidden"
    assert H.shape == (60, 32) and H.dtype == np.float32
    np.testing.assert_allclose(H, h, rtol=1e-5, atol=1e-6)
    O = net.embed(X[:60], layer=None, batch_size=16)  # the output layer, in batches
    assert O.shape == (60, 384)
    np.testing.assert_allclose(O, o, rtol=1e-5, atol=1e-6)
    # recommend's scores are the output layer's activations at its ids
    ids, scores = net.recommend(np.arange(60), X[:60], N=5)
    np.testing.assert_allclose(scores, np.take_along_axis(O, ids, axis=1), rtol=1e-6)
    assert net.embed(X[:0]).shape == (0, 32)
    with pytest.raises(sten.Error) as e:
        net.embed(X[:2], layer="Nope")
    assert e.value.status_name == "STEN_E_NOTFOUND" and '"Nope"' in e.value.message
    with pytest.raises(sten.Error) as e:
        net.weights("Input")  # nothing feeds the input layer
    assert "Input -> Hidden, Hidden -> Output" in e.value.message


def test_similar_items_is_the_cosine_of_output_weight_columns(trained, tmp_path):
    _, X, net = trained
    W1, _ = net.weights()
    V = W1[:, :300].T.astype(np.float64)  # the 300 real items (fit saw 300 columns)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    S = V @ V.T
    np.fill_diagonal(S, -np.inf)
    q = np.array([0, 1, 7, 150, 299])
    ids, scores = net.similar_items(q, N=8)
    assert ids.shape == (5, 8) and ids.dtype == np.int32 and scores.dtype == np.float32
    for r, i in enumerate(q):
        assert i not in ids[r] and (ids[r] < 300).all()
        np.testing.assert_allclose(scores[r], S[i, ids[r]], rtol=1e-5, atol=1e-6)
        ref = np.argsort(-S[i], kind="stable")[:8]
        np.testing.assert_allclose(scores[r], S[i, ref], rtol=1e-5, atol=1e-6)  # the best 8 scores
        gaps = np.diff(S[i, ref])
        if (gaps < -1e-5).all():  # no near-ties: the same ids in the same order
            assert ids[r].tolist() == ref.tolist()
    one_ids, one_scores = net.similar_items(7, N=8)
    assert (one_ids == ids[2]).all() and one_ids.shape == (8,)
    with pytest.raises(IndexError):
        net.similar_items(300, N=3)  # beyond the items fit saw
    # a loaded model has the same weights; its candidates are given explicitly
    net.save(str(tmp_path / "m.nc"))
    back = sten.Network.load(str(tmp_path / "m.nc"), threads=1)
    for layer in ("Hidden", None):
        for a, b in zip(net.weights(layer), back.weights(layer)):
            assert (a == b).all()
    again = back.similar_items(q, N=8, catalog_size=300)
    assert (again[0] == ids).all() and (again[1] == scores).all()
    few = back.similar_items([2], N=8, catalog_size=5)  # 4 candidates: padded
    assert few[0][0, 4:].tolist() == [-1] * 4 and np.isneginf(few[1][0, 4:]).all()
    assert set(few[0][0, :4].tolist()) == {0, 1, 3, 4}


def split_rows(V, every=5):
    """(fold_in, held_out): every `every`-th item of each row held out."""
    parts = ([], [])
    for u in range(V.shape[0]):
        r = V[u].indices
        k = np.arange(len(r))
        parts[0].append(r[k % every != 0])
        parts[1].append(r[k % every == 0])

    def csr(rows):
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        return sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows).astype(np.int32), indptr),
                             shape=V.shape)
    return csr(parts[0]), csr(parts[1])


def test_validation_patience_and_keep_best(tmp_path):
    path = tmp_path / "ae.json"
    path.write_text(CONFIG)
    X = make_data(users=600)
    train, fold_in, held_out = X[:500], *split_rows(X[500:])
    kw = dict(epochs=30, batch_size=64, seed=3)
    net = sten.Network.from_config(str(path), threads=1)
    net.fit(train, validation=(fold_in, held_out), rank_k=20, select="recall", patience=2, **kw)
    h = net.history
    assert [s.epoch for s in h] == list(range(1, len(h) + 1)) and len(h) == net.epochs_done
    assert all(np.isfinite([s.valid_loss, s.valid_recall, s.valid_ndcg]).all() for s in h)
    # the rule: best = a strictly higher recall than every earlier epoch; stop
    # at the first epoch 2 epochs past the best
    best, since = -np.inf, 0
    for s in h:
        assert s.best == (s.valid_recall > best), s
        best, since = (s.valid_recall, 0) if s.best else (best, since + 1)
        if since >= 2:
            assert s is h[-1]
    assert since >= 2 and len(h) < 30  # it did stop early
    # Recall@20 of the last epoch is sten.evaluate's truncated recall of
    # recommend's lists (fold-in items excluded, scored against held-out)
    ids, _ = net.recommend(np.arange(fold_in.shape[0]), fold_in, N=20)
    m = sten.evaluate(ids, held_out, k=20)
    assert m["recall_trunc@20"] == pytest.approx(h[-1].valid_recall, abs=1e-9)
    assert m["ndcg@20"] == pytest.approx(h[-1].valid_ndcg, abs=1e-9)

    # keep_best ends with the best epoch's weights: those of a run that stops there
    kept = sten.Network.from_config(str(path), threads=1)
    kept.fit(train, validation=(fold_in, held_out), rank_k=20, select="recall", keep_best=True,
             epochs=len(h), batch_size=64, seed=3)
    best_epoch = max((s for s in kept.history), key=lambda s: (s.valid_recall, -s.epoch)).epoch
    assert [s.valid_recall for s in kept.history] == [s.valid_recall for s in h]
    plain = sten.Network.from_config(str(path), threads=1).fit(train, epochs=best_epoch, batch_size=64, seed=3)
    for layer in ("Hidden", None):
        for a, b in zip(kept.weights(layer), plain.weights(layer)):
            assert (a == b).all()
    assert [s.loss for s in plain.history] == [s.loss for s in h[:best_epoch]]  # validation changes no step

    # one validation matrix: the loss only
    one = sten.Network.from_config(str(path), threads=1).fit(train, validation=X[500:], epochs=2, batch_size=64)
    assert all(np.isfinite(s.valid_loss) and np.isnan(s.valid_recall) for s in one.history)
    with pytest.raises(ValueError):
        sten.Network.from_config(str(path)).fit(train, validation=X[500:], rank_k=10)
    with pytest.raises(ValueError):
        sten.Network.from_config(str(path)).fit(train, validation=(fold_in, held_out), select="auc")
    with pytest.raises(sten.Error) as e:  # the engine's own check
        sten.Network.from_config(str(path)).fit(train, validation=(fold_in, held_out), select="ndcg", epochs=1)
    assert "rank_k" in e.value.message
