"""test_estimators.py — the scikit-learn style estimators against NumPy
references (k-means assignments, inertia and a Lloyd's step from the same
centres; PCA against numpy.linalg.svd; k-NN against brute force; Linear
Learner on separable data), Factorization Machines against `sten train
--algorithm factorization-machines` + `sten predict` (the same scores, to the
bit, for the same data, seed and threads), the estimator contract without
scikit-learn, and inside scikit-learn's Pipeline and GridSearchCV when it is
installed."""
import os
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp

import sten
from sten._context import dense_f32

STEN = os.environ.get("STEN_BIN", "")


def blobs(n=600, d=5, centres=4, seed=0, spread=0.4):
    rng = np.random.default_rng(seed)
    C = rng.normal(0, 6, (centres, d))
    lab = rng.integers(0, centres, n)
    return (C[lab] + rng.normal(0, spread, (n, d))).astype(np.float32), lab, C


def test_kmeans_against_numpy():
    X, _, C = blobs()
    km = sten.KMeans(k=4, init_method="kmeans++", mini_batch_size=100, threads=1).fit(X)
    c = km.cluster_centers_
    assert c.shape == (4, 5) and km.n_features_in_ == 5
    d2 = ((X[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    assert (km.labels_ == d2.argmin(1)).all() and (km.predict(X[:50]) == km.labels_[:50]).all()
    inertia = d2.min(1).sum()
    assert km.inertia_ == pytest.approx(inertia, rel=1e-5)
    assert km.score(X) == pytest.approx(-inertia, rel=1e-5)
    np.testing.assert_allclose(km.distance_to_cluster(X[:20]), np.sqrt(d2.min(1)[:20]), rtol=1e-4)
    # a local optimum: one Lloyd's step from the same centres gains almost nothing
    step = np.stack([X[km.labels_ == j].mean(0) for j in range(4)])
    after = ((X[:, None, :].astype(np.float64) - step[None]) ** 2).sum(-1).min(1).sum()
    assert after <= inertia * (1 + 1e-6) and after >= inertia * (1 - 1e-3)
    # the planted centres are found
    assert max(np.linalg.norm(C - c[j], axis=1).min() for j in range(4)) < 0.2
    again = sten.KMeans(k=4, init_method="kmeans++", mini_batch_size=100, threads=2).fit(X)
    assert (again.cluster_centers_ == c).all()  # the thread count changes nothing
    with pytest.raises(sten.Error) as e:
        sten.KMeans(k=0).fit(X)
    assert e.value.message.startswith("sten.KMeans: hyperparameter k = 0 is out of range")
    with pytest.raises(sten.Error) as e:
        sten.KMeans(k=3, init_method="kmeans+").fit(X)
    assert "init_method" in e.value.message and e.value.status < 0


def test_pca_against_svd():
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8)) + 3).astype(np.float32)
    p = sten.PCA(num_components=3).fit(X)
    Xc = X.astype(np.float64) - X.mean(0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    np.testing.assert_allclose(np.abs((p.components_ * Vt[:3]).sum(1)), 1, atol=1e-5)  # up to sign
    np.testing.assert_allclose(p.explained_variance_, s[:3] ** 2 / (len(X) - 1), rtol=1e-4)
    np.testing.assert_allclose(p.explained_variance_ratio_, s[:3] ** 2 / (s ** 2).sum(), rtol=1e-4)
    np.testing.assert_allclose(p.mean_, X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(p.transform(X), Xc @ p.components_.T, rtol=1e-3, atol=1e-3)
    r = sten.PCA(num_components=3, algorithm_mode="randomized").fit(X)
    np.testing.assert_allclose(np.abs((r.components_ * Vt[:3]).sum(1)), 1, atol=1e-3)
    assert sten.PCA(num_components=2).fit_transform(X).shape == (400, 2)
    with pytest.raises(sten.Error) as e:
        sten.PCA(num_components=9).fit(X)
    assert "num_components" in e.value.message


def test_dense_inputs_are_not_copied():
    A = np.ones((4, 3), np.float32)
    assert dense_f32(A) is A  # C-contiguous float32: the array itself
    B = dense_f32(A.astype(np.float64))
    assert B.dtype == np.float32 and B.flags.c_contiguous
    assert dense_f32(np.asfortranarray(A)).flags.c_contiguous
    with pytest.raises(TypeError):
        dense_f32(sp.csr_matrix(A))
    with pytest.raises(ValueError):
        dense_f32(np.array([[np.nan]]))


def test_knn_against_brute_force():
    X, lab, _ = blobs(n=300, spread=2.5, seed=2)
    names = np.array(["north", "south", "east", "west"])[lab]
    kn = sten.KNN(k=7, predictor_type="classifier").fit(X, names)
    Q = X[:40] + 0.1
    dist, rows = kn.kneighbors(Q)
    d2 = ((Q[:, None, :].astype(np.float64) - X[None]) ** 2).sum(-1)
    ref = np.argsort(d2, axis=1, kind="stable")[:, :7]
    np.testing.assert_allclose(dist, np.take_along_axis(d2, ref, 1), rtol=1e-4, atol=1e-4)
    assert (rows == ref).all()
    pred, proba = kn.predict(Q), kn.predict_proba(Q)
    assert list(kn.classes_) == sorted(set(names))
    votes = np.stack([(names[ref] == c).sum(1) for c in kn.classes_], 1)
    np.testing.assert_allclose(proba, votes / 7)
    for r in range(len(Q)):  # the most votes; a tie goes to the label met first
        top = np.flatnonzero(votes[r] == votes[r].max())
        first = min(top, key=lambda c: list(names[ref[r]]).index(kn.classes_[c]))
        assert pred[r] == kn.classes_[first]
    reg = sten.KNN(k=4, predictor_type="regressor").fit(X, lab.astype(float))
    np.testing.assert_allclose(reg.predict(Q), lab[ref[:, :4]].mean(1), rtol=1e-6)


def test_linear_learner():
    rng = np.random.default_rng(3)
    w = rng.normal(size=6)
    X = rng.normal(size=(1200, 6)).astype(np.float32)
    m = X @ w
    keep = np.abs(m) > 0.3  # a margin: separable
    X, y = X[keep], np.where(m[keep] > 0, "yes", "no")
    ll = sten.LinearLearner(predictor_type="binary_classifier", epochs=30)
    ll.fit(X[:700], y[:700], validation=(X[700:850], y[700:850]))
    assert list(ll.classes_) == ["no", "yes"] and ll.report_["on_validation"]
    assert ll.score(X[850:], y[850:]) >= 0.98
    p = ll.predict_proba(X[850:])
    score = 1 / (1 + np.exp(-(X[850:].astype(np.float64) @ ll.coef_[:, 0] + ll.intercept_[0])))
    np.testing.assert_allclose(p[:, 1], score, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
    assert (ll.predict(X[850:]) == ll.classes_[(p[:, 1] >= ll.threshold_).astype(int)]).all()
    # the regressor recovers the weights
    yr = X @ w + 0.5
    reg = sten.LinearLearner(predictor_type="regressor", epochs=40).fit(X, yr)
    assert reg.score(X, yr) > 0.99
    np.testing.assert_allclose(reg.coef_[:, 0], w, atol=0.1)
    with pytest.raises(sten.Error) as e:
        sten.LinearLearner(predictor_type="binary_classifier", loss="huber_loss").fit(X, y)
    assert e.value.status_name == "STEN_E_UNSUPPORTED" and "sten.LinearLearner" in e.value.message


def test_linear_learner_sparse():
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(5)
    # hashed one-hot rows: 3 of 50000 features each, labels from a sparse plane
    n, d = 4000, 50000
    cols = rng.integers(0, d, size=(n, 3))
    X = sp.csr_matrix((np.ones(3 * n, np.float32), cols.ravel(), np.arange(0, 3 * n + 1, 3)), shape=(n, d))
    w = rng.normal(size=d)
    y = (w[cols].sum(1) + 0.2 * rng.normal(size=n) > 0).astype(int)
    ll = sten.LinearLearner(predictor_type="binary_classifier", epochs=20, num_models=4)
    ll.fit(X[:3000], y[:3000], validation=(X[3000:3500], y[3000:3500]))
    assert ll.coef_.shape == (d, 1)
    # the scores are the model's on the rows, sparse or dense alike
    p = ll.predict_proba(X[3500:])[:, 1]
    ref = 1 / (1 + np.exp(-(X[3500:] @ ll.coef_[:, 0].astype(np.float64) + ll.intercept_[0])))
    np.testing.assert_allclose(p, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ll.predict_proba(X[3500:3600].toarray())[:, 1], p[:100], rtol=1e-5, atol=1e-6)
    assert ll.score(X[:3000], y[:3000]) > 0.9  # most features are seen once or twice: it fits them


def fm_data(n=400, d=60, seed=4):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.08, format="csr", random_state=seed, dtype=np.float32)
    X.data = np.round(X.data * 4, 2).astype(np.float32)
    V = rng.normal(0, 0.6, (d, 3))
    w = rng.normal(size=d)
    Xd = X.toarray().astype(np.float64)
    inter = 0.5 * (((Xd @ V) ** 2) - (Xd ** 2) @ (V ** 2)).sum(1)
    return X, Xd @ w + inter


def write_libsvm(path, X, y):
    with open(path, "w") as f:
        for r in range(X.shape[0]):
            row = X[r]
            f.write("%.9g " % y[r] + " ".join(f"{j}:{v:.9g}" for j, v in zip(row.indices, row.data)) + "\n")


def test_factorization_machines_match_the_command_line(tmp_path):
    X, y = fm_data()
    labels = (y > np.median(y)).astype(np.float32)
    hp = dict(num_factors=3, predictor_type="binary_classifier", epochs=6, mini_batch_size=32, factors_lr=0.01,
              linear_lr=0.01)
    fm = sten.FactorizationMachines(**hp, seed=21, threads=1).fit(X[:300], labels[:300])
    p = fm.predict_proba(X[300:])[:, 1]
    assert len(fm.history_) == 6 and fm.history_[-1].loss < fm.history_[0].loss
    assert ((p >= 0.5) == (fm.predict(X[300:]) == 1)).all()
    assert np.mean(fm.predict(X[300:]) == labels[300:]) > 0.6  # learns something
    assert (fm.decision_function(X[300:].toarray()) == p).all()  # dense input: the same rows
    if not STEN:
        pytest.skip("STEN_BIN not set")
    write_libsvm(tmp_path / "train.svm", X[:300], labels[:300])
    write_libsvm(tmp_path / "test.svm", X[300:], labels[300:])
    import json
    (tmp_path / "hp.json").write_text(json.dumps({**hp, "feature_dim": X.shape[1]}))

    def sten_cli(*args):
        r = subprocess.run([STEN, *args], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    sten_cli("train", "--algorithm", "factorization-machines", "--hyperparameters", "hp.json", "--train",
             "train.svm", "--model-dir", "cli", "--index-base", "0", "--seed", "21", "--threads", "1")
    fm.save(str(tmp_path / "py.nc"))
    for model, out in (("cli/model.nc", "cli.txt"), ("py.nc", "py.txt")):
        sten_cli("predict", "-n", model, "--libsvm", "test.svm", "--index-base", "0", "-s", out)
    cli = (tmp_path / "cli.txt").read_text().split()
    assert cli == (tmp_path / "py.txt").read_text().split()  # the CLI scores the Python model the same
    assert cli == ["%.9g" % v for v in p.tolist()]


def test_factorization_machines_regressor():
    X, y = fm_data(n=800, seed=5)
    fm = sten.FactorizationMachines(num_factors=3, predictor_type="regressor", epochs=40, mini_batch_size=32,
                                    bias_lr=0.05, linear_lr=0.05, factors_lr=0.02, threads=1)
    fm.fit(X[:600], y[:600])
    assert fm.score(X[600:], y[600:]) > 0.8
    with pytest.raises(AttributeError):
        fm.predict_proba(X[:2])
    with pytest.raises(sten.Error) as e:
        sten.FactorizationMachines(num_factors=0).fit(X, y > 0)
    assert e.value.message.startswith("sten.FactorizationMachines: hyperparameter num_factors = 0")
    with pytest.raises(ValueError):
        sten.FactorizationMachines().fit(X, np.arange(X.shape[0]) % 3)  # three classes


def test_estimator_contract_without_sklearn():
    est = sten.KNN(k=3, index_metric="COSINE")
    params = est.get_params()
    assert params["k"] == 3 and params["index_metric"] == "COSINE" and "nprobe" in params
    assert type(est)(**params).get_params() == params  # what clone does
    assert est.set_params(k=9, sample_size=50) is est and est.k == 9 and est.sample_size == 50
    with pytest.raises(ValueError):
        est.set_params(n_neighbors=3)
    assert repr(sten.KMeans(k=3)) == "KMeans(k=3)"
    with pytest.raises(AttributeError):  # NotFittedError when scikit-learn is installed
        sten.PCA().transform(np.ones((2, 3), np.float32))
    for cls in (sten.KMeans, sten.PCA, sten.KNN, sten.LinearLearner, sten.FactorizationMachines):
        names = cls._param_names()
        assert set(cls._HP) <= set(names) and "seed" in names and "threads" in names


def test_in_sklearn_pipeline_and_grid_search():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    X, lab, _ = blobs(n=300, d=6, spread=1.5, seed=6)
    y = (lab % 2).astype(int)
    pipe = Pipeline([("pca", sten.PCA(num_components=3)),
                     ("knn", sten.KNN(k=5, predictor_type="classifier"))])
    pipe.fit(X[:200], y[:200])
    assert pipe.score(X[200:], y[200:]) > 0.9
    grid = GridSearchCV(pipe, {"pca__num_components": [2, 4], "knn__k": [1, 7]}, cv=3).fit(X, y)
    assert grid.best_params_["knn__k"] in (1, 7) and grid.best_score_ > 0.9
    c = clone(sten.LinearLearner(predictor_type="regressor", wd=0.01))
    assert c.get_params()["wd"] == 0.01
    km = GridSearchCV(sten.KMeans(k=2), {"k": [2, 4]}, cv=3).fit(X)  # score: minus inertia
    assert km.best_params_ == {"k": 4}
    assert sklearn.base.is_classifier(sten.KNN()) and sklearn.base.is_regressor(
        sten.LinearLearner(predictor_type="regressor"))
