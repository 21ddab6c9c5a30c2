"""Peer timings for `npm run bench:ops`: OpenBLAS sgemm through numpy, and
PyTorch CPU conv3d (oneDNN) and written-out attention, on the same shapes and
thread count as tessera. Prints one JSON object. Run with Debian's python3:
  /usr/bin/python3 benchmarks/peers.py --threads 2 [--only attention --tokens 4096]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time


def median_ms(fn, warmup=2, iters=7):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="all")
    ap.add_argument("--tokens", type=int, default=4096)
    args = ap.parse_args()
    out = {}
    if args.only in ("all", "matmul"):
        import numpy as np
        try:
            from threadpoolctl import threadpool_info
            out["blas"] = [
                {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                for i in threadpool_info()
            ]
        except Exception:
            out["blas"] = "numpy " + np.__version__
        rng = np.random.default_rng(0)
        res = []
        for (m, k, n) in [(1024, 384, 384), (1024, 384, 1536), (1024, 1536, 384)]:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            bt = np.ascontiguousarray(b.T)
            ms_nn = median_ms(lambda: a @ b, iters=15)
            ms_nt = median_ms(lambda: a @ bt.T, iters=15)
            res.append({"M": m, "K": k, "N": n, "ms_nn": ms_nn, "ms_nt": ms_nt})
        out["matmul"] = res
    if args.only in ("all", "conv3d", "attention"):
        import torch
        torch.set_num_threads(args.threads)
        out["torch"] = torch.__version__
        g = torch.Generator().manual_seed(0)
        if args.only in ("all", "conv3d"):
            x = torch.randn(1, 128, 8, 64, 64, generator=g)
            w = torch.randn(128, 128, 3, 3, 3, generator=g) * 0.05
            with torch.no_grad():
                ms = median_ms(lambda: torch.nn.functional.conv3d(x, w, padding=1), warmup=2, iters=5)
            out["conv3d"] = {"ms": ms, "mkldnn": torch.backends.mkldnn.is_available()}
        if args.only in ("all", "attention"):
            res = []
            tokens = [1024, 4096] if args.only == "all" else [args.tokens]
            for n in tokens:
                q = torch.randn(1, 6, n, 64, generator=g)
                k = torch.randn(1, 6, n, 64, generator=g)
                v = torch.randn(1, 6, n, 64, generator=g)
                scale = 64 ** -0.5
                with torch.no_grad():
                    written = median_ms(lambda: torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v, warmup=1, iters=5)
                    sdpa_fn = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
                    sdpa = median_ms(lambda: sdpa_fn(q, k, v), warmup=1, iters=5) if sdpa_fn else None
                res.append({"tokens": n, "ms_written_out": written, "ms_sdpa": sdpa})
            out["attention"] = res
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
