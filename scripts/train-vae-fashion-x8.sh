#!/usr/bin/env bash
# The Fashion-MNIST report at x8 spatial compression from a model trained on Fashion-MNIST
# alone: SMALL_VAE_CONFIG (0.77M parameters, x8 spatial, x4 temporal, 8 latent channels,
# the mean shortcut), trained on the training split at 32x32 (batch 16 single frames) for
# 55 minutes on this machine's CPU, then benchmarked on the test split. The joint model of
# scripts/train-vae-small.sh sees Fashion-MNIST in 1 batch of 4 in 4; this one sees only
# it, about 4 steps of 16 a second on 2 cores. The cosine schedule spans 12000 steps,
# about what 55 minutes reach here (STEPS=...). Resumable, like the others.
#   bash scripts/train-vae-fashion-x8.sh [minutes=55]
# Writes models/vae-fashion-x8.safetensors and models/vae-fashion-x8.ckpt.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-55}"
mkdir -p models
npx tsup --silent >/dev/null
node dist/cli.js train-vae \
  --data fashion-mnist --config small \
  --steps "${STEPS:-12000}" --max-minutes "$MINUTES" \
  --batch-size 16 --frames 1 --sizes 32x32 \
  --lr "${LR:-1e-3}" --warmup 200 --cosine --kl-weight 1e-6 \
  --checkpoint-every 500 --resume \
  --out "${OUT:-models/vae-fashion-x8.safetensors}" --out-dtype f16 --checkpoint "${CKPT:-models/vae-fashion-x8.ckpt}"
npm run --silent bench:vae -- --model "${OUT:-models/vae-fashion-x8.safetensors}" --world 0
