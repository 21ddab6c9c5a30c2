"""How fast a VAE architecture learns world content beyond the mean shortcut's floor,
for `npm run bench:vae-learning` (benchmarks/vae-learning.mjs writes the world clips and
runs this with Debian's python3-torch):
  /usr/bin/python3 benchmarks/vae_learning.py --clips F --count N [--steps 400] [--threads 2]
      [--only tessera-b32,tessera-b16,plain] [--modes frames,clips]

Each model trains `--steps` AdamW steps (lr 1e-3 after 100 warm-up steps, L1 + MSE,
gradients clipped to norm 1) on world frames (images, 8 per batch) and on world clips
(4 x 9 frames of 32 x 32), all at x8 spatial (x4 temporal for clips), with the mean
shortcut. Every 100 steps it prints the mean training PSNR of those steps, the PSNR of
the block means alone (the floor: what the shortcut gives with no network) and the gain
over it. First it prints what simple codes reach on held-out clips: the block means, a
mean over time or space alone, and the best linear code (PCA) of each latent cell. Models:
  tessera-b32     the PyTorch reference of the architecture (test/fixtures/vae) at base
                  32, channel_mult [1, 2, 2, 4]: 8.7M parameters
  tessera-b16     the same at base 16, channel_mult [1, 1, 2, 2] (SMALL_VAE_CONFIG): 0.77M
  plain           a plain conv autoencoder: 3 stride-2 convs down, 3 transposed convs
                  up, 64 channels, SiLU, no norm, no residual blocks (2D on images;
                  causal 3D on clips, time halved by the first two)
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "vae"))
import make_vae_fixtures as R  # noqa: E402

SD, TD, LATENT = 8, 4, 8


class CausalConv(nn.Conv3d):
    def __init__(self, cin, cout, k=(3, 3, 3), stride=(1, 1, 1)):
        super().__init__(cin, cout, k, stride, padding=(0, 1, 1))

    def forward(self, x):
        return super().forward(F.pad(x, (0, 0, 0, 0, self.kernel_size[0] - 1, 0)))


class PlainUp(nn.Module):  # x2 in space (transposed conv); x2 in time (nearest, frame 0 alone)
    def __init__(self, c, temporal):
        super().__init__()
        self.temporal = temporal
        self.up = nn.ConvTranspose3d(c, c, (1, 4, 4), (1, 2, 2), (0, 1, 1))
        self.conv = CausalConv(c, c)

    def forward(self, x):
        if self.temporal:
            x = x.repeat_interleave(2, 2)[:, :, 1:]
        return F.silu(self.conv(F.silu(self.up(x))))


class Plain(nn.Module):
    def __init__(self, video, width=64):
        super().__init__()
        W, L = width, LATENT
        if video:
            self.enc = nn.Sequential(
                CausalConv(3, W), nn.SiLU(), CausalConv(W, W, (3, 4, 4), (2, 2, 2)), nn.SiLU(),
                CausalConv(W, W, (3, 4, 4), (2, 2, 2)), nn.SiLU(), CausalConv(W, W, (3, 4, 4), (1, 2, 2)), nn.SiLU(),
                CausalConv(W, L))
            self.dec = nn.Sequential(CausalConv(L, W), nn.SiLU(), PlainUp(W, False), PlainUp(W, True),
                                     PlainUp(W, True), CausalConv(W, 3))
        else:
            down = lambda: [nn.Conv2d(W, W, 4, 2, 1), nn.SiLU()]  # noqa: E731
            up = lambda: [nn.ConvTranspose2d(W, W, 4, 2, 1), nn.SiLU()]  # noqa: E731
            self.enc = nn.Sequential(nn.Conv2d(3, W, 3, 1, 1), nn.SiLU(), *down(), *down(), *down(),
                                     nn.Conv2d(W, L, 3, 1, 1))
            self.dec = nn.Sequential(nn.Conv2d(L, W, 3, 1, 1), nn.SiLU(), *up(), *up(), *up(), nn.Conv2d(W, 3, 3, 1, 1))
        self.video = video

    def encode(self, x):  # the mean shortcut as in the reference: block means into channels 0..2
        h = self.enc(x) if self.video else self.enc(x[:, :, 0]).unsqueeze(2)
        return torch.cat([h[:, :3] + R.block_mean(x, TD, SD), h[:, 3:]], 1)

    def decode(self, z):
        y = self.dec(z) if self.video else self.dec(z[:, :, 0]).unsqueeze(2)
        return y + R.block_repeat(z[:, :3], TD, SD)


class Reference(nn.Module):
    def __init__(self, base, mult):
        super().__init__()
        cfg = R.VaeConfig(latent_channels=LATENT, base_channels=base, channel_mult=mult, num_res_blocks=1,
                          spatial_down=SD, temporal_down=TD, norm_groups=8, mid_attention=True, mean_shortcut=True)
        self.vae = R.Vae(cfg)
        with torch.no_grad():  # logvar starts at -6, as in native/models/vae.cpp
            self.vae.encoder.conv_out.bias[LATENT:].fill_(-6.0)

    def encode(self, x):
        mean, logvar = self.vae.encode(x)
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # a posterior sample, as in training

    def decode(self, z):
        return self.vae.decoder(z)


def cells(x, td, s):
    """[N, 3, 1 + td k, H, W] -> one row per latent cell: frames 1.. in groups of td, s x s pixels."""
    n, c, t, h, w = x.shape
    y = x[:, :, 1:1 + ((t - 1) // td) * td].reshape(n, c, -1, td, h // s, s, w // s, s)
    return y.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(-1, c * td * s * s).double()


def bounds(clips):
    """What simple codes reach on held-out clips (the last fifth): the block means, a mean
    over time alone or space alone, and the best linear code of each latent cell with k
    numbers (PCA fitted on the other clips), as a PSNR."""
    fit, held = clips[: len(clips) * 4 // 5], clips[len(clips) * 4 // 5:]
    psnr = lambda a, b: 10 * math.log10(4 / ((a - b) ** 2).mean().item())  # noqa: E731
    rep = lambda td, s: R.block_repeat(R.block_mean(held, td, s), td, s)  # noqa: E731
    print(f"bounds on {len(held)} held-out clips: block means x8/x4 {psnr(rep(TD, SD), held):.2f} dB, "
          f"time alone (x4) {psnr(rep(TD, 1), held):.2f} dB, space alone (x8) {psnr(rep(1, SD), held):.2f} dB")
    for td in (TD, 1):
        a, b = cells(fit, td, SD), cells(held, td, SD)
        mu = a.mean(0)
        vt = torch.linalg.svd(a - mu, full_matrices=False).Vh
        out = []
        for k in (8, 16, 32):
            v = vt[:k]
            out.append(f"{k} numbers {psnr((b - mu) @ v.T @ v + mu, b):.2f} dB")
        print(f"  best linear code of each {SD}x{SD}x{td} cell ({a.shape[1]} values): " + ", ".join(out), flush=True)


def floor_psnr(x):
    return 10 * math.log10(4 / ((R.block_repeat(R.block_mean(x, TD, SD), TD, SD) - x) ** 2).mean().item())


def run(name, model, batches, steps):
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)
    rows, t0 = [], time.perf_counter()
    for i in range(steps):
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (i + 1) / 100)
        x = batches(i)
        y = model.decode(model.encode(x))
        mse = ((y - x) ** 2).mean()
        loss = (y - x).abs().mean() + mse
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        rows.append((10 * math.log10(4 / mse.item()), floor_psnr(x)))
        if (i + 1) % 100 == 0 or i + 1 == steps:
            p, f = np.mean(rows[-100:], 0)
            print(f"{name}: step {i + 1}: PSNR {p:.2f} dB, block means {f:.2f} dB, gain {p - f:+.2f} dB "
                  f"({(i + 1) / (time.perf_counter() - t0):.2f} steps/s)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", required=True, help="f32 file of world clips [count, 3, 9, 32, 32]")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--modes", default="frames,clips", help="frames, clips or both (default)")
    a = ap.parse_args()
    models = {
        "tessera-b32": lambda video: Reference(32, [1, 2, 2, 4]),
        "tessera-b16": lambda video: Reference(16, [1, 1, 2, 2]),
        "plain": lambda video: Plain(video),
    }
    only = [m for m in a.only.split(",") if m]
    for m in only:
        if m not in models:
            sys.exit(f"vae_learning: --only: unknown model '{m}' (one of {', '.join(models)})")
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in ("frames", "clips"):
            sys.exit(f"vae_learning: --modes: unknown mode '{m}' (frames or clips)")
    torch.set_num_threads(a.threads)
    clips = torch.from_numpy(np.fromfile(a.clips, dtype=np.float32).reshape(a.count, 3, 9, 32, 32))
    frames = clips.permute(0, 2, 1, 3, 4).reshape(-1, 3, 1, 32, 32)
    print(f"world: {a.count} clips 32x32x9 ({frames.shape[0]} frames), {a.steps} steps per model, "
          f"torch {torch.__version__}, {a.threads} threads", flush=True)
    bounds(clips)
    rng = torch.Generator().manual_seed(1)
    images = lambda i: frames[torch.randint(0, frames.shape[0], (8,), generator=rng)]  # noqa: E731
    videos = lambda i: clips[torch.randint(0, a.count, (4,), generator=rng)]  # noqa: E731
    for video, batches in ((False, images), (True, videos)):
        if ("clips" if video else "frames") not in modes:
            continue
        for name, make in models.items():
            if only and name not in only:
                continue
            torch.manual_seed(0)
            model = make(video)
            n = sum(p.numel() for p in model.parameters())
            run(f"{name} ({n / 1e6:.2f}M) on {'clips x8/x4' if video else 'frames x8'}", model, batches, a.steps)


if __name__ == "__main__":
    main()
