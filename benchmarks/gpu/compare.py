#!/usr/bin/env python3
"""benchmarks/gpu/compare.py OURS.jsonl — the vendor column of the GPU benchmark.

Reads the JSON lines bench_kernels printed (tessera's kernels, timed with CUDA
events), times the vendor library on the same problems through PyTorch (cuBLAS
for GEMM, cuDNN for conv3d, scaled_dot_product_attention for attention, PyTorch's
own kernels for softmax / layer_norm / silu), the same way (warm-up, median of
many runs between CUDA events), and prints one table:

  kernel, shape, tessera ms, tessera TFLOP/s (or GB/s), vendor ms, ratio

ratio = vendor ms / tessera ms (1.0 = as fast as the vendor, 0.6 = 60% of its speed).
Without PyTorch (or without CUDA in it) it prints tessera's columns alone.
"""
import json
import statistics
import sys


def vendor_timer(torch):
    def time_ms(fn, reps):
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        return statistics.median(times)

    return time_ms


def vendor_problem(torch, r):
    """A zero-argument callable running the vendor's version of row r."""
    F = torch.nn.functional
    dev = "cuda"
    k = r["kernel"]
    g = torch.Generator(device=dev).manual_seed(0)

    def randn(*shape, dtype=torch.float32, scale=1.0):
        return (torch.randn(*shape, device=dev, generator=g) * scale).to(dtype)

    if k.startswith("gemm_"):
        dt = torch.bfloat16 if k.endswith("bf16") else torch.float32
        a, w = randn(r["M"], r["K"], dtype=dt), randn(r["N"], r["K"], dtype=dt)
        return lambda: F.linear(a, w)
    if k.startswith("attention_fwd_"):
        dt = torch.bfloat16 if k.endswith("bf16") else torch.float32
        shape = (r["B"], r["H"], r["N"], r["Dh"])
        q, kk, v = randn(*shape, dtype=dt), randn(*shape, dtype=dt), randn(*shape, dtype=dt)
        if not hasattr(F, "scaled_dot_product_attention"):
            return None
        return lambda: F.scaled_dot_product_attention(q, kk, v)
    if k.startswith("conv3d_fwd_"):
        dt = torch.bfloat16 if k.endswith("bf16") else torch.float32
        x = randn(r["N"], r["C"], r["D"], r["H"], r["W"], dtype=dt)
        w = randn(r["C"], r["C"], 3, 3, 3, dtype=dt, scale=0.05)
        return lambda: F.conv3d(x, w, padding=1)
    if k == "softmax_fwd":
        x = randn(r["rows"], r["C"])
        return lambda: torch.softmax(x, -1)
    if k == "layer_norm_fwd":
        x, w, b = randn(r["rows"], r["C"]), randn(r["C"]), randn(r["C"])
        return lambda: F.layer_norm(x, (r["C"],), w, b)
    if k == "silu_fwd":
        x = randn(r["rows"], r["C"])
        return lambda: F.silu(x)
    return None


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    reps = 50 if "--quick" not in sys.argv else 10
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
    torch = None
    try:
        import torch as _torch

        if _torch.cuda.is_available():
            torch = _torch
            # The f32 rows compare against true fp32 (tessera's f32 kernels use no TF32).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = True
    except ImportError:
        pass
    if torch is None:
        print("(no PyTorch with CUDA here: vendor column omitted)")
    head = f"{'kernel':<20} {'shape':<18} {'tessera ms':>10} {'rate':>14} {'vendor ms':>10} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    time_ms = vendor_timer(torch) if torch else None
    for r in rows:
        ms = r["ms"]
        rate = (f"{r['flops'] / ms / 1e9:8.1f} TFLOP/s" if r["flops"] > 0 else f"{r['bytes'] / ms / 1e6:8.0f} GB/s  ")
        vendor = ratio = "n/a"
        if torch:
            fn = vendor_problem(torch, r)
            if fn is not None:
                v = time_ms(fn, reps)
                vendor, ratio = f"{v:.4f}", f"{v / ms:.2f}"
                del fn
                torch.cuda.empty_cache()
        print(f"{r['kernel']:<20} {r['shape']:<18} {ms:>10.4f} {rate:>14} {vendor:>10} {ratio:>6}")
    if torch:
        print(f"vendor: PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
              f"{torch.cuda.get_device_name(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
