#!/usr/bin/env bash
# The Fashion-MNIST report at x8 spatial compression from a model trained on Fashion-MNIST
# alone: SMALL_VAE_CONFIG (0.77M parameters, x8 spatial, x4 temporal, 8 latent channels,
# the mean shortcut), trained on the training split at 32x32 (batch 16 single frames) for
# 55 minutes on this machine's CPU, then benchmarked on the test split. The joint model of
# scripts/train-vae-small.sh sees Fashion-MNIST in 1 batch of 4 in 4; this one sees only
# it, about 4 steps of 16 a second on 2 cores. The cosine schedule spans 12000 steps,
# about what 55 minutes reach here (STEPS=...). Resumable, like the others.
#   bash scripts/train-vae-fashion-x8.sh [minutes=55]
# Writes models/vae-fashion-x8.safetensors (committed) and models/vae-fashion-x8.ckpt.
source "$(dirname "$0")/train-vae-recipe.sh"
train_vae vae-fashion-x8 "${1:-55}" \
  --data fashion-mnist --config small --steps "${STEPS:-12000}" \
  --batch-size 16 --frames 1 --sizes 32x32 \
  --lr "${LR:-1e-3}" --warmup 200 --cosine --kl-weight 1e-6 --checkpoint-every 500
npm run --silent bench:vae -- --model "$MODEL" --world 0
