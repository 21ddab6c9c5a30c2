#!/usr/bin/env bash
# Trains the small video VAE (SMALL_VAE_CONFIG, 0.77M parameters, x8 spatial, x4 temporal,
# the mean shortcut) on this machine's CPU in under an hour, then benchmarks it.
# Resumable: run it again after an interruption and it continues from the checkpoint.
# 12500 steps of 4 clips with a cosine schedule: about 50 minutes on 2 cores (the
# 55-minute limit stops it earlier on a slower machine; STEPS=... to change).
#   bash scripts/train-vae-small.sh [minutes=55]
# Data: world videos drawn at 64x64 and cut to random 32x32 windows (9 frames, 1 in 5
# batches single frames: content at the scale of the 64x64 benchmark, 4x cheaper steps)
# and Fashion-MNIST's training split at 32x32, 3 world batches per Fashion-MNIST one.
# Writes models/vae-small.safetensors (the committed weights) and
# models/vae-small.ckpt (the checkpoint, not committed).
source "$(dirname "$0")/train-vae-recipe.sh"
train_vae vae-small "${1:-55}" \
  --data world:3,fashion-mnist:1@32x32 --config small --steps "${STEPS:-12500}" \
  --batch-size 4 --frames 9 --sizes 64x64 --crop 32x32 \
  --lr "${LR:-1e-3}" --warmup 200 --cosine --kl-weight 1e-6 --checkpoint-every 500
npm run --silent bench:vae -- --model "$MODEL"
