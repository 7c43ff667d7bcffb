#!/usr/bin/python3
"""golden_nn.py -- an independent NumPy computation of the network in
golden_nn.c (SMCE autoencoder with a sparseness penalty, DSSTNE's update
rules), trained the same few steps; compares every weight with what sten
printed, to 1e-5. Usage: golden_nn.py <path to golden_nn binary>"""
import subprocess
import sys

import numpy as np

rows = [[0, 2, 5], [1, 2], [3], [0, 4, 5]]
X = np.zeros((4, 6), dtype=np.float64)
for r, feats in enumerate(rows):
    X[r, feats] = 1.0
T = X.copy()

W = [np.array([[0.5 * np.sin(np.float32(i * 7 + j * 3 + k)) for j in range(c)] for i in range(r)])
     for k, (r, c) in enumerate([(6, 4), (4, 6)])]
b = [np.array([0.1 * np.cos(np.float32(j + k)) for j in range(c)]) for k, c in enumerate([4, 6])]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def train(opt):
    w = [x.astype(np.float64) for x in W]
    bb = [x.astype(np.float64) for x in b]
    alpha, lam, lam1 = (0.01 if opt == "adam" else 0.1), 0.01, (0.0 if opt == "sgd-fused" else 0.001)
    mu, mu1 = {"adam": (0.9, 0.999), "momentum": (0.9, 0.0)}.get(opt, (0.5, 0.0))
    s1 = [np.zeros_like(x) for x in w] + [np.zeros_like(x) for x in bb]
    s2 = [np.zeros_like(x) for x in w] + [np.zeros_like(x) for x in bb]
    step = 0
    for epoch in range(3):
        for lo in (0, 2):
            x, t = X[lo:lo + 2], T[lo:lo + 2]
            B = x.shape[0]
            a1 = sigmoid(x @ w[0] + bb[0])
            a2 = sigmoid(a1 @ w[1] + bb[1])
            d2 = np.where(t > 0, 1.5 * (a2 - 1.0), 0.5 * a2)
            rho = np.clip(a1.mean(axis=0), 1e-6, 0.999999)
            pen = 0.5 * (-0.3 / rho + 0.7 / (1 - rho))
            d1 = (d2 @ w[1].T + pen) * a1 * (1 - a1)
            grads = [x.T @ d1, a1.T @ d2, d1.sum(axis=0), d2.sum(axis=0)]
            params = w + bb
            step += 1
            for i, (p, g) in enumerate(zip(params, grads)):
                g = g / B
                if i < 2:
                    g = g + lam * p + lam1 * np.sign(p)
                if opt in ("sgd", "sgd-fused"):
                    p -= alpha * g
                elif opt == "momentum":
                    s1[i] = mu * s1[i] - alpha * g
                    p += s1[i]
                else:
                    s1[i] = mu * s1[i] + (1 - mu) * g
                    s2[i] = mu1 * s2[i] + (1 - mu1) * g * g
                    p -= alpha * (s1[i] / (1 - mu ** step)) / (np.sqrt(s2[i] / (1 - mu1 ** step)) + 1e-8)
    return w, bb


def main():
    binary = sys.argv[1]
    failures = 0
    for opt in ("sgd", "sgd-fused", "momentum", "adam"):
        out = subprocess.run([binary, opt], capture_output=True, text=True, check=True).stdout
        got = {}
        for line in out.split("\n"):
            if line:
                name, i, v = line.split()
                got[(name, int(i))] = float(v)
        w, bb = train(opt)
        want = {}
        for k in range(2):
            for i, v in enumerate(w[k].ravel()):
                want[("W%d" % k, i)] = v
            for i, v in enumerate(bb[k]):
                want[("b%d" % k, i)] = v
        worst = max(abs(got[key] - want[key]) for key in want)
        moved = max(abs(want[("W%d" % k, i)] - W[k].ravel()[i]) for k in range(2) for i in range(24))
        ok = set(got) == set(want) and worst <= 1e-5 and moved > 1e-3
        print("%-9s max |sten - numpy| = %.3g over %d parameters (weights moved up to %.3g): %s"
              % (opt, worst, len(want), moved, "ok" if ok else "FAILED"))
        failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
