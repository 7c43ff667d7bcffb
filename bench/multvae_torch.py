"""bench/multvae_torch.py — a PyTorch Mult-VAE / Mult-DAE written from Liang et
al. (2018) and their reference notebook (l2-normalised input, dropout 0.5 on
it, tanh layers, a Gaussian bottleneck with the KL term annealed by
min(cap, step / anneal_steps), the multinomial log-likelihood, Adam 1e-3,
batch 500), trained on the same strong-generalization split sten trains on
(bench/strong-ml1m.sh's files), the epoch of best validation NDCG@100 kept,
and its top-100 for the test users' fold-in items written in sten predict's
format, so `sten evaluate` scores it exactly as it scores sten's models. A
reference for whether a gap between sten's Mult-VAE and the published
ordering is sten's or the data's.

    python multvae_torch.py vae|dae WORKDIR [EPOCHS] [ANNEAL_STEPS] [CAP] [SEED]
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read(path, items, grow):
    users, rows, cols = [], [], []
    for line in open(path):
        u, rest = line.rstrip("\n").split("\t")
        users.append(u)
        for it in rest.split(":"):
            it = it.split(",")[0]
            if it not in items:
                if not grow:
                    continue
                items[it] = len(items)
            rows.append(len(users) - 1)
            cols.append(items[it])
    return users, rows, cols


def dense(n, m, rows, cols):
    X = torch.zeros(n, m)
    X[rows, cols] = 1.0
    return X


class Net(nn.Module):
    def __init__(self, n_items, vae, hidden=600, latent=200):
        super().__init__()
        self.vae = vae
        if vae:
            self.enc = nn.Linear(n_items, hidden)
            self.heads = nn.Linear(hidden, 2 * latent)
            self.dec1 = nn.Linear(latent, hidden)
            self.out = nn.Linear(hidden, n_items)
            for lin in (self.enc, self.heads, self.dec1, self.out):
                nn.init.xavier_uniform_(lin.weight)
                nn.init.normal_(lin.bias, std=0.001)
        else:
            self.enc = nn.Linear(n_items, latent)
            self.out = nn.Linear(latent, n_items)
            for lin in (self.enc, self.out):
                nn.init.xavier_uniform_(lin.weight)
                nn.init.normal_(lin.bias, std=0.001)

    def forward(self, x, train):
        h = F.dropout(F.normalize(x, dim=1), p=0.5, training=train)
        if not self.vae:
            return self.out(torch.tanh(self.enc(h))), torch.zeros(())
        mu, logvar = self.heads(torch.tanh(self.enc(h))).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if train else mu
        kl = 0.5 * (torch.exp(logvar) + mu * mu - 1 - logvar).sum(1).mean()
        return self.out(torch.tanh(self.dec1(z))), kl


def ndcg100(scores, fold, held):
    scores = scores.clone()
    scores[fold > 0] = -np.inf
    top = torch.topk(scores, 100, dim=1).indices
    hits = torch.gather(held, 1, top)
    disc = 1.0 / torch.log2(torch.arange(2, 102).float())
    dcg = (hits * disc).sum(1)
    n = held.sum(1).clamp(max=100).long()
    idcg = torch.stack([disc[:k].sum() for k in n])
    keep = held.sum(1) > 0
    return (dcg[keep] / idcg[keep]).mean().item()


def main():
    kind, w = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    anneal = float(sys.argv[4]) if len(sys.argv) > 4 else 200000
    cap = float(sys.argv[5]) if len(sys.argv) > 5 else 0.2
    torch.manual_seed(int(sys.argv[6]) if len(sys.argv) > 6 else 98765)
    torch.set_num_threads(2)
    items = {}
    _, r, c = read(f"{w}/st-train.txt", items, True)
    names = list(items)
    n_tr = max(r) + 1
    X = dense(n_tr, len(items), r, c)
    vu, vr, vc = read(f"{w}/st-valid-foldin.txt", items, False)
    _, hr, hc = read(f"{w}/st-valid-holdout.txt", items, False)  # the same users, in the same order
    VF, VH = dense(len(vu), len(items), vr, vc), dense(len(vu), len(items), hr, hc)
    tu, tr, tc = read(f"{w}/st-test-foldin.txt", items, False)
    TF = dense(len(tu), len(items), tr, tc)
    m = Net(len(items), kind == "vae")
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    step, best, best_state, best_epoch = 0, -1.0, None, 0
    for e in range(1, epochs + 1):
        m.train()
        perm = torch.randperm(n_tr)
        for s in range(0, n_tr, 500):
            xb = X[perm[s:s + 500]]
            logits, kl = m(xb, True)
            nll = -(F.log_softmax(logits, 1) * xb).sum(1).mean()
            beta = min(cap, step / anneal) if anneal > 0 else cap
            loss = nll + beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        m.eval()
        with torch.no_grad():
            v = ndcg100(m(VF, False)[0], VF, VH)
        if v > best:
            best, best_epoch = v, e
            best_state = {k: t.clone() for k, t in m.state_dict().items()}
    m.load_state_dict(best_state)
    m.eval()
    with torch.no_grad():
        S = m(TF, False)[0]
        S[TF > 0] = -np.inf
        val, idx = torch.topk(S, 100, dim=1)
    with open(f"{w}/torch-{kind}.recs", "w") as f:
        for u, user in enumerate(tu):
            f.write(user + "\t" + ":".join(f"{names[i]},{s:.6f}" for i, s in zip(idx[u].tolist(), val[u].tolist()))
                    + "\n")
    print(f"torch Mult-{kind.upper()}: best validation NDCG@100 {best:.4f} at epoch {best_epoch}; "
          f"torch {torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
