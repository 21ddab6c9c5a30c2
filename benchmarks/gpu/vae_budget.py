"""What the VAE architecture reaches on world video when this machine's hour is not the
limit: trains configurations of the PyTorch reference (test/fixtures/vae, the model
native/models/vae.cpp matches) on world clips on a GPU and prints the PSNR of bench:vae's
16 held-out world clips at 64x64x17 as training goes.

  node benchmarks/gpu/dump-world.mjs            (on a machine with Node: writes the clips)
  python3 benchmarks/gpu/vae_budget.py [--minutes 4] [--only b16,b16-c16]

The recipe is scripts/train-vae-small.sh's, on world clips only: random 32x32 windows of
9 frames cut from 64x64x17 clips (1 batch in 5 single frames), L1 + MSE + 1e-6 KL with a
posterior sample, AdamW (0.9, 0.99) at lr 1e-3 with 200 warm-up steps and a cosine decay
to 1e-4, gradients clipped to norm 1, logvar bias started at -6, the mean shortcut. The
CPU script spends 3 of 4 steps of its 12500 on world (the rest on Fashion-MNIST), so
9400 steps of 4 clips is the CPU hour's world budget. Runs (all 8 latent channels at
x8/x4 unless named):
  b16        SMALL_VAE_CONFIG (base 16, mult [1, 1, 2, 2]), batch 4, 9400 steps: the CPU hour
  b16-long   the same, batch 32, until time is up: the same model without the step limit
  b32-long   base 32, mult [1, 2, 2, 4] (8.7M), batch 32, until time is up
  b16-c16    SMALL_VAE_CONFIG with 16 latent channels, batch 4, 9400 steps
  x8t2-c16   x8 spatial, x2 temporal, 16 channels, batch 4, 9400 steps
  x4t4-c8    x4 spatial ([1, 1, 2]), x4 temporal, 8 channels, batch 4, 9400 steps
  x4t2-c16   x4 spatial, x2 temporal, 16 channels, batch 4, 9400 steps
  x4t2-c16-long  the same, batch 32, until time is up
  c16-linear       SMALL_VAE_CONFIG with 16 channels and the linear shortcut instead of the
                   mean shortcut, fitted (as LinearShortcutFit does) to the cells of the first
                   1500 training clips, with the network's outputs zeroed; batch 4, 9400 steps
  c16-linear-long  the same, batch 32, until time is up: what the network adds to the linear
                   code with 5x the CPU hour's data
Each run is its own process on the one GPU; each prints `name: step S (clips C): held-out
PSNR P dB (block means F dB), t s` every 1000 steps and at its end.
"""
import argparse
import lzma
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "fixtures", "vae"))
import make_vae_fixtures as R  # noqa: E402

RUNS = {  # name: (base, mult, latent, spatial, temporal, batch, steps or 0 = until time is up[, "linear"])
    "b16": (16, [1, 1, 2, 2], 8, 8, 4, 4, 9400),
    "b16-long": (16, [1, 1, 2, 2], 8, 8, 4, 32, 0),
    "b32-long": (32, [1, 2, 2, 4], 8, 8, 4, 32, 0),
    "b16-c16": (16, [1, 1, 2, 2], 16, 8, 4, 4, 9400),
    "x8t2-c16": (16, [1, 1, 2, 2], 16, 8, 2, 4, 9400),
    "x4t4-c8": (16, [1, 1, 2], 8, 4, 4, 4, 9400),
    "x4t2-c16": (16, [1, 1, 2], 16, 4, 2, 4, 9400),
    "x4t2-c16-long": (16, [1, 1, 2], 16, 4, 2, 32, 0),
    "c16-linear": (16, [1, 1, 2, 2], 16, 8, 4, 4, 9400, "linear"),
    "c16-linear-long": (16, [1, 1, 2, 2], 16, 8, 4, 32, 0, "linear"),
}


def fit_linear_shortcut(vae, clips, td, s):
    """LinearShortcutFit (native/models/vae_shortcut.h) in PyTorch: each cell shape's top
    principal components as the shortcut, whitened as the native fit is (encoder weight
    Q/sd, bias -Q mu/sd; decoder weight Q sd, bias mu; sd = sqrt(eigenvalue) floored at 1e-3
    of the top one's, so each latent channel has variance 1 over the fitted cells), the
    decoder's conv_out and the encoder conv_out's mean rows zeroed."""
    L = vae.cfg.latent_channels
    x = to_float(clips)
    n, c = x.shape[:2]
    with torch.no_grad():
        for part, t, v in (("first", 1, x[:, :, :1]), ("rest", td, x[:, :, 1:])):
            g, h, w = v.shape[2] // t, v.shape[3] // s, v.shape[4] // s
            rows = v.reshape(n, c, g, t, h, s, w, s).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(-1, c * t * s * s).double()
            mu = rows.mean(0)
            eig, vec = torch.linalg.eigh((rows - mu).T @ (rows - mu) / len(rows))
            q = vec[:, -L:].flip(1).T  # [L, D], by decreasing variance
            top = eig[-L:].flip(0)
            sd = top.clamp(min=1e-6 * top[0].item()).sqrt()[:, None] if top[0] > 0 else torch.ones(L, 1, dtype=q.dtype)
            enc, dec = getattr(vae.encoder.shortcut, part), getattr(vae.decoder.shortcut, part)
            enc.weight.copy_((q / sd).float().reshape(enc.weight.shape))
            enc.bias.copy_(-((q / sd) @ mu).float())
            dec.weight.copy_((q * sd).float().reshape(dec.weight.shape))
            dec.bias.copy_(mu.float().reshape(dec.bias.shape))
        vae.decoder.conv_out.weight.zero_()
        vae.decoder.conv_out.bias.zero_()
        vae.encoder.conv_out.weight[:L].zero_()
        vae.encoder.conv_out.bias[:L].zero_()


def load(path, shape):
    with lzma.open(path) if path.endswith(".xz") else open(path, "rb") as f:
        a = np.frombuffer(f.read(), dtype=np.uint8)
    return torch.from_numpy(a.copy()).reshape(-1, *shape)


def to_float(u8):
    return u8.float() / 127.5 - 1.0


def psnr(a, b):
    return 10 * math.log10(4 / ((a - b) ** 2).mean().item())


def train(name, data, minutes, seed=0):
    base, mult, latent, sd, td, batch, steps = RUNS[name][:7]
    linear = RUNS[name][7:] == ("linear",)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(seed)
    clips = load(os.path.join(data, "world-train.u8.xz"), (3, 17, 64, 64)).to(dev)
    held = to_float(load(os.path.join(data, "world-eval.u8"), (3, 17, 64, 64))).to(dev)
    cfg = R.VaeConfig(latent_channels=latent, base_channels=base, channel_mult=mult, num_res_blocks=1,
                      spatial_down=sd, temporal_down=td, norm_groups=8, mid_attention=True,
                      mean_shortcut=not linear, linear_shortcut=linear)
    vae = R.Vae(cfg).to(dev)
    with torch.no_grad():
        vae.encoder.conv_out.bias[latent:].fill_(-6.0)
    if linear:
        fit_linear_shortcut(vae, clips[:1500], td, sd)
    params = list(vae.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0)
    floor = np.mean([psnr(R.block_repeat(R.block_mean(h[None], td, sd), td, sd), h[None]) for h in held])
    g = torch.Generator(device="cpu").manual_seed(seed + 1)
    total = steps or 10**9
    deadline = time.time() + 60 * minutes
    t0 = time.time()

    def evaluate(step):
        vae.eval()
        with torch.no_grad():
            p = []
            for h in held:
                mean, _ = vae.encode(h[None])
                p.append(min(psnr(vae.decoder(mean).clamp(-1, 1), h[None]), 99))
        vae.train()
        print(f"{name}: step {step} (clips {step * batch}): held-out PSNR {np.mean(p):.2f} dB "
              f"(block means {floor:.2f} dB), {time.time() - t0:.0f} s", flush=True)

    n = sum(p.numel() for p in params)
    print(f"{name}: {n / 1e6:.2f}M parameters, x{sd}/x{td}, {latent} channels, batch {batch}, "
          f"{'%d steps' % steps if steps else 'until time is up'}, on {dev}", flush=True)
    step = 0
    while step < total and time.time() < deadline:
        lr = 1e-3 * min(1.0, (step + 1) / 200)
        if steps and step >= 200:
            lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 200) / (steps - 200)))
        for group in opt.param_groups:
            group["lr"] = lr
        frames = 1 if torch.randint(0, 5, (1,), generator=g).item() == 0 else 9
        idx = torch.randint(0, clips.shape[0], (batch,), generator=g)
        t = torch.randint(0, 17 - frames + 1, (1,), generator=g).item()
        y, x = torch.randint(0, 33, (2,), generator=g).tolist()
        xb = to_float(clips[idx.to(dev), :, t:t + frames, y:y + 32, x:x + 32])
        mean, logvar = vae.encode(xb)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        rec = vae.decoder(z)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum() / xb.numel()
        loss = (rec - xb).abs().mean() + ((rec - xb) ** 2).mean() + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 1000 == 0 and step != total:
            evaluate(step)
    evaluate(step)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "data"))
    ap.add_argument("--minutes", type=float, default=4.0, help="wall-time limit of every run")
    ap.add_argument("--only", default="", help="comma-separated run names (default: all)")
    ap.add_argument("--run", default="", help=argparse.SUPPRESS)  # one run, in this process
    a = ap.parse_args()
    if a.run:
        return train(a.run, a.data, a.minutes)
    names = [n for n in a.only.split(",") if n] or list(RUNS)
    for n in names:
        if n not in RUNS:
            sys.exit(f"vae_budget: --only: unknown run '{n}' (one of {', '.join(RUNS)})")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
          flush=True)
    procs = [subprocess.Popen([sys.executable, __file__, "--run", n, "--data", a.data, "--minutes", str(a.minutes)])
             for n in names]
    sys.exit(max(p.wait() for p in procs))


if __name__ == "__main__":
    main()
