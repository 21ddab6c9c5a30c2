#!/usr/bin/env bash
# Trains the small video VAE (SMALL_VAE_CONFIG, 8.7M parameters) on this machine's
# CPU within an hour, then benchmarks it. Resumable: run it again after an
# interruption and it continues from the checkpoint.
#   bash scripts/train-vae-small.sh [minutes=55]
# Writes models/vae-small.safetensors (the committed weights) and
# models/vae-small.ckpt (the checkpoint, not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-50}"
mkdir -p models
npx tsup --silent >/dev/null
node dist/cli.js train-vae \
  --data world,fashion-mnist --config small \
  --steps "${STEPS:-900}" --max-minutes "$MINUTES" \
  --batch-size 4 --frames 9 --sizes 32x32,64x64,32x48,48x32 \
  --lr 5e-4 --warmup 100 --cosine --kl-weight 1e-6 \
  --checkpoint-every 100 --resume \
  --out models/vae-small.safetensors --checkpoint models/vae-small.ckpt
npm run --silent bench:vae -- --model models/vae-small.safetensors
