#!/usr/bin/env bash
# Trains the small video VAE's network (SMALL_VAE_CONFIG: 0.8M parameters, x8 spatial,
# x4 temporal) with 16 latent channels and the linear shortcut on world videos, on this
# machine's CPU in under an hour, then benchmarks it. Before step 1 the shortcut is fitted
# to the cells of 500 batches of whole training clips (64x64, 9 frames, not the 32x32 training
# windows; their principal components, docs/VAE.md), so the
# model starts as the best linear code of 16 numbers per 8x8x4 cell; the network then
# learns the rest. Resumable: run it again after an interruption. 7500 steps of 4 clips
# with a cosine schedule: about 48 minutes on 2 cores (the 55-minute limit stops it
# earlier on a slower machine; STEPS=... to change).
#   bash scripts/train-vae-world-c16.sh [minutes=55]
# Data: world videos drawn at 64x64 and cut to random 32x32 windows, 9 frames (1 in 5
# batches single frames). Writes models/vae-world-c16.safetensors and its checkpoint
# models/vae-world-c16.ckpt (not committed).
source "$(dirname "$0")/train-vae-recipe.sh"
train_vae vae-world-c16 "${1:-55}" \
  --data world --config small --latent-channels 16 --shortcut linear --shortcut-fit-batches 500 \
  --steps "${STEPS:-7500}" --batch-size 4 --frames 9 --sizes 64x64 --crop 32x32 \
  --lr "${LR:-1e-3}" --warmup 200 --cosine --kl-weight 1e-6 --checkpoint-every 500
npm run --silent bench:vae -- --model "$MODEL" --fashion 0
