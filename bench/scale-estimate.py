#!/usr/bin/env python3
"""bench/scale-estimate.py -- the paper estimate of docs/scale-out.md: from the
compute measured on this machine (bench/mpi-scaling.sh, bench/dlrm.sh; the
numbers below, with their source) and the bytes each scheme sends per step,
the step time, throughput and efficiency of data- and model-parallel training
at 8, 64 and 512 ranks on a 25 Gb/s and a 100 Gb/s network, for the ML-20M
autoencoder, a 10M-item catalogue and DLRM-Terabyte. Prints Markdown.

  python3 bench/scale-estimate.py [--cores 16] [--per-core-ae 6703] [--per-core-dlrm 3974]

Model (stated so that it can be argued with):
- a rank is one node of `cores` cores, each as fast as one core here (linear
  within a node: an assumption; the measured 2-thread speed-up here is ~1.7x);
- weak scaling: each rank keeps its batch (the global batch grows with P);
- an all-reduce of S bytes over P ranks (reduce-scatter + all-gather, as
  Open MPI's large-message algorithms): 2 log2(P) alpha + 2 (P-1)/P S / BW;
  all-to-all of S bytes per rank: (P-1) alpha + (P-1)/P S / BW;
- nothing overlaps (compute and communication add): a pessimistic bound, as
  sten does not overlap them yet;
- Adam's update costs --adam-ns per parameter and core (measured here: the AE
  step with Adam against plain SGD): whole on every rank in data parallelism,
  split in model parallelism (each rank updates its items);
- alpha (latency per message): 10 us at 25 Gb/s (TCP), 2 us at 100 Gb/s (RDMA).
"""
import argparse
import math

NETS = [("25 Gb/s", 25e9 / 8, 10e-6), ("100 Gb/s", 100e9 / 8, 2e-6)]
RANKS = [8, 64, 512]


def allreduce(S, P, bw, alpha):
    return 0.0 if P == 1 else 2 * math.log2(P) * alpha + 2 * (P - 1) / P * S / bw


def alltoall(S, P, bw, alpha):
    return 0.0 if P == 1 else (P - 1) * alpha + (P - 1) / P * S / bw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=16, help="cores per rank (node)")
    ap.add_argument("--per-core-ae", type=float, default=6703,
                    help="ML-20M AE examples/s on one core (bench/mpi-scaling.sh, 1 process x 1 thread)")
    ap.add_argument("--adam-ns", type=float, default=0.82,
                    help="Adam's update per parameter on one core, ns (5.6 ms for the ML-20M AE's 6.85M)")
    ap.add_argument("--per-core-dlrm", type=float, default=3974,
                    help="Kaggle DLRM examples/s per core (bench/dlrm.sh: 7947 on 2 threads)")
    a = ap.parse_args()
    C = a.cores
    H, b_ae = 128, 256
    rows = []
    # --- autoencoders: W items, H hidden; compute per example grows with W
    for name, W in (("ML-20M AE (26,744 items, 128 hidden)", 26744), ("10M-item AE (128 hidden)", 10_000_000)):
        per_ex = 1.0 / (a.per_core_ae * 26744 / W)  # seconds per example on one core
        params = 2 * W * H + W + H
        t_c = b_ae * per_ex / C  # a rank's step compute (its batch of b_ae)
        t_opt = params * a.adam_ns * 1e-9 / C  # Adam's update, split over the node's cores
        for net, bw, al in NETS:
            for P in RANKS:
                # data parallel: every rank the whole model, the gradient summed, the whole update
                dp = t_c + allreduce(4 * params, P, bw, al) + t_opt
                # model parallel: every rank sees the global batch; the item-wide work splits P ways,
                # two sums of B x H floats cross the wire per step
                B = b_ae * P
                mp = B * per_ex / C / P + 2 * allreduce(4 * B * H, P, bw, al) + t_opt / P
                t1 = t_c + t_opt  # one rank alone, its batch: the efficiency's yardstick
                rows.append((name, net, P, b_ae * P / dp, t1 / dp, B / mp, t1 / mp,
                             4 * params / 1e6, 2 * 4 * B * H / 1e6))
    # --- DLRM-Terabyte (MLPerf's: 26 tables capped at 40M rows, 188M rows in all, dim 128;
    # bottom 13-512-256-128, top 479-1024-1024-512-256-1)
    mlp = 13 * 512 + 512 * 256 + 256 * 128 + 479 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256
    kaggle = 13 * 512 + 512 * 256 + 256 * 64 + 64 * 16 + 367 * 512 + 512 * 256 + 256
    per_ex = 1.0 / (a.per_core_dlrm * kaggle / mlp)
    b = 2048
    emb_rows, dim = 188_000_000, 128
    dlrm = []
    for net, bw, al in NETS:
        for P in RANKS:
            t_c = b * per_ex / C
            # sten today: data parallel, tables replicated (memory!), touched rows found by a bitmap
            # or-ed over the ranks (rows / 8 bytes) and their gradients summed
            touched = min(emb_rows, b * P * 26)  # at most one row per categorical value
            dp = t_c + allreduce(4 * mlp, P, bw, al) + allreduce(emb_rows / 8, P, bw, al) + \
                allreduce(4 * touched * dim, P, bw, al)
            # DLRM's scheme (not in sten yet): tables split over the ranks, the looked-up vectors
            # exchanged all-to-all forward and backward, the MLPs data parallel
            mp = t_c + allreduce(4 * mlp, P, bw, al) + 2 * alltoall(4 * b * 26 * dim, P, bw, al)
            dlrm.append((net, P, b * P / dp, t_c / dp, b * P / mp, t_c / mp,
                         4 * emb_rows * dim * 3 / 1e9 / P))
    print("Autoencoders (per rank: %d cores, batch %d; efficiency = throughput / (P x one rank's); "
          "over 100%%: the update split by model parallelism)\n" % (C, b_ae))
    print("| model | network | ranks | data parallel: examples/s | eff. | model parallel: examples/s | eff. "
          "| bytes/step DP | bytes/step MP |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %d | %.3g | %.0f%% | %.3g | %.0f%% | %.0f MB | %.1f MB |" %
              (r[0], r[1], r[2], r[3], 100 * r[4], r[5], 100 * r[6], r[7], r[8]))
    print("\nDLRM-Terabyte (per rank: %d cores, batch %d; 188M embedding rows x 128: %.0f GB with Adam's "
          "state)\n" % (C, b, 4 * emb_rows * dim * 3 / 1e9))
    print("| network | ranks | sten now (data parallel, sparse rows): examples/s | eff. "
          "| tables split, all-to-all: examples/s | eff. | table GB per rank when split |")
    print("|---|---|---|---|---|---|---|")
    for r in dlrm:
        print("| %s | %d | %.3g | %.0f%% | %.3g | %.0f%% | %.1f |" % (r[0], r[1], r[2], 100 * r[3], r[4],
                                                               100 * r[5], r[6]))


if __name__ == "__main__":
    main()
