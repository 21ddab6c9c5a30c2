#!/usr/bin/env bash
# Trains the small video VAE's network (SMALL_VAE_CONFIG: x8 spatial, x4 temporal) with 96
# latent channels and the linear shortcut on world videos, on this machine's CPU in under
# an hour, then benchmarks it. Each 3x4x8x8 cell's 768 values go into 96 numbers (8x
# compression; the default 8 channels are 96x). Before step 1 the shortcut is fitted to the
# cells of 500 batches of whole training clips (their principal components, docs/VAE.md),
# so the model starts as the best linear code of 96 numbers per cell (32.7 dB on
# bench:vae's world clips); the network then trains on top of it. Resumable: run it again
# after an interruption. 4000 steps of 4 clips at lr 3e-4 with a cosine schedule: about
# 45 minutes on 2 cores (the 55-minute limit stops it earlier on a slower machine;
# STEPS=... and LR=... to change).
#   bash scripts/train-vae-world-c96.sh [minutes=55]
# Data: whole world videos at 64x64, 9 frames (1 in 5 batches single frames): the size the
# benchmark decodes. A network trained on 32x32 windows of them loses dB on whole 64x64
# frames (benchmarks/RESULTS.md). Writes models/vae-world-c96.safetensors and its
# checkpoint models/vae-world-c96.ckpt (not committed).
source "$(dirname "$0")/train-vae-recipe.sh"
train_vae vae-world-c96 "${1:-55}" \
  --data world --config small --latent-channels 96 --shortcut linear --shortcut-fit-batches 500 \
  --steps "${STEPS:-4000}" --batch-size 4 --frames 9 --sizes 64x64 \
  --lr "${LR:-3e-4}" --warmup 200 --cosine --kl-weight 1e-6 --checkpoint-every 500
npm run --silent bench:vae -- --model "$MODEL" --fashion 0
