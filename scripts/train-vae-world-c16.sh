#!/usr/bin/env bash
# Trains the small video VAE's network (SMALL_VAE_CONFIG: 0.8M parameters, x8 spatial,
# x4 temporal) with 16 latent channels and the linear shortcut on world videos, on this
# machine's CPU in under an hour, then benchmarks it. Each 3x4x8x8 cell's 768 values go
# into 16 numbers (48x compression). Before step 1 the shortcut is fitted to the cells of
# 500 batches of whole training clips (their principal components, whitened: docs/VAE.md),
# so the model starts as the best linear code of 16 numbers per cell with latents of unit
# variance; the network then learns the rest. Resumable: run it again after an
# interruption. 4000 steps of 4 clips at lr 1e-3 with a cosine schedule: about 50 minutes
# on 2 cores (the 55-minute limit stops it earlier on a slower machine; STEPS=... and
# LR=... to change).
#   bash scripts/train-vae-world-c16.sh [minutes=55]
# Data: whole world videos at 64x64, 9 frames (1 in 5 batches single frames): the size the
# benchmark decodes (a network trained on 32x32 windows loses dB on whole 64x64 frames:
# benchmarks/RESULTS.md). Writes models/vae-world-c16.safetensors and its checkpoint
# models/vae-world-c16.ckpt (not committed).
source "$(dirname "$0")/train-vae-recipe.sh"
train_vae vae-world-c16 "${1:-55}" \
  --data world --config small --latent-channels 16 --shortcut linear --shortcut-fit-batches 500 \
  --steps "${STEPS:-4000}" --batch-size 4 --frames 9 --sizes 64x64 \
  --lr "${LR:-1e-3}" --warmup 200 --cosine --kl-weight 1e-6 --checkpoint-every 500
npm run --silent bench:vae -- --model "$MODEL" --fashion 0
