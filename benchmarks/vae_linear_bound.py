#!/usr/bin/python3
"""What the best linear code of each latent cell reaches on bench:vae's held-out world clips.

The linear shortcut (docs/VAE.md) starts a model there: each cell (frame 0's 3 x s x s
pixels, then each group of td frames' 3 x td x s x s) coded by its top-k principal
components, fitted on training clips. This prints, per compression (x s spatial / x td
temporal) and code size k, the per-clip mean PSNR (bench:vae's) of that code on the 16
held-out 64x64x17 clips, beside the block means (the mean shortcut's start).

    node benchmarks/gpu/dump-world.mjs          # writes benchmarks/gpu/data/ (training and held-out clips)
    /usr/bin/python3 benchmarks/vae_linear_bound.py [--train 1500] [--codes 3,8,16,32,64] [--compressions 8/4,8/2,8/1]   # about 2 minutes on 2 cores
"""
import argparse
import lzma
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def cells(x, s, td):
    """[N, 3, 17, 64, 64] -> frame 0's cells [N h w, 3 s s] and the later groups' [N g h w, 3 td s s]."""
    n, c, t, hh, ww = x.shape
    h, w = hh // s, ww // s
    first = x[:, :, :1].reshape(n, c, 1, h, s, w, s).transpose(0, 3, 5, 1, 2, 4, 6).reshape(-1, c * s * s)
    g = (t - 1) // td
    rest = x[:, :, 1:].reshape(n, c, g, td, h, s, w, s).transpose(0, 2, 4, 6, 1, 3, 5, 7).reshape(-1, c * td * s * s)
    return first, rest


def uncells(first, rest, shape, s, td):
    n, c, t, hh, ww = shape
    h, w, g = hh // s, ww // s, (t - 1) // td
    x = np.zeros(shape, np.float32)
    x[:, :, :1] = first.reshape(n, h, w, c, 1, s, s).transpose(0, 3, 4, 1, 5, 2, 6).reshape(n, c, 1, hh, ww)
    x[:, :, 1:] = rest.reshape(n, g, h, w, c, td, s, s).transpose(0, 4, 1, 5, 2, 6, 3, 7).reshape(n, c, t - 1, hh, ww)
    return x


def clip_psnr(a, b):
    """bench:vae's PSNR: the mean over clips of 10 log10(4 / mse), each capped at 99 dB."""
    return float(np.mean([min(99.0, 10 * math.log10(4 / float(((a[i] - b[i]) ** 2).mean()))) for i in range(len(a))]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "gpu", "data"))
    ap.add_argument("--train", type=int, default=1500, help="training clips the components are fitted on")
    ap.add_argument("--codes", default="3,8,16,32,64", help="code sizes k to print, comma-separated")
    ap.add_argument("--compressions", default="8/4,8/2,8/1", help="x spatial / x temporal pairs, comma-separated")
    a = ap.parse_args()
    with lzma.open(os.path.join(a.data, "world-train.u8.xz")) as f:
        raw = np.frombuffer(f.read(), np.uint8).reshape(-1, 3, 17, 64, 64)[: a.train]
    train = raw.astype(np.float32) / 127.5 - 1
    with open(os.path.join(a.data, "world-eval.u8"), "rb") as f:
        held = np.frombuffer(f.read(), np.uint8).reshape(-1, 3, 17, 64, 64).astype(np.float32) / 127.5 - 1
    print(f"{len(train)} training clips, {len(held)} held-out clips of 64x64x17")
    codes = [int(k) for k in a.codes.split(",")]
    for s, td in [tuple(int(v) for v in pair.split("/")) for pair in a.compressions.split(",")]:
        fitted = []
        for part in cells(train, s, td):
            mu = part.mean(0, dtype=np.float64)
            xc = part.astype(np.float64) - mu
            eig, vec = np.linalg.eigh(xc.T @ xc / len(part))
            fitted.append((mu, vec[:, ::-1].T))  # rows by decreasing variance
        held_cells = cells(held, s, td)
        means = [np.repeat(c.reshape(len(c), 3, -1).mean(2, keepdims=True), c.shape[1] // 3, 2).reshape(c.shape)
                 for c in held_cells]
        line = [f"x{s}/x{td}: block means {clip_psnr(uncells(*means, held.shape, s, td), held):.2f} dB"]
        for k in codes:
            rec = [((c - mu) @ q[:k].T) @ q[:k] + mu for c, (mu, q) in zip(held_cells, fitted)]
            line.append(f"PCA-{k} {clip_psnr(uncells(*rec, held.shape, s, td).clip(-1, 1), held):.2f} dB")
        print(", ".join(line), flush=True)


if __name__ == "__main__":
    main()
