#!/usr/bin/env bash
# The Fashion-MNIST report at x4 spatial compression: a VAE of the same architecture with
# three levels (base 32, mult 1-2-4: x4 spatial, x4 temporal, 8 latent channels, the
# mean shortcut), trained on Fashion-MNIST's training split at 32x32 for 20 minutes on
# this machine's CPU, then benchmarked on the test split. (28x28 content in a 4x4x8
# latent at x8 is the harder setting that scripts/train-vae-small.sh reports.) The
# cosine schedule spans 1100 steps, about what 20 minutes reach here (STEPS=...).
#   bash scripts/train-vae-fashion-x4.sh [minutes=20]
# Writes models/vae-fashion-x4.safetensors (not committed: rerun this script) and
# models/vae-fashion-x4.ckpt.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-20}"
mkdir -p models
npx tsup --silent >/dev/null
config="$(mktemp --suffix=.json)"
trap 'rm -f "$config"' EXIT
cat > "$config" <<'JSON'
{ "latentChannels": 8, "baseChannels": 32, "channelMult": [1, 2, 4], "numResBlocks": 1,
  "spatialDown": 4, "temporalDown": 4, "normGroups": 8, "midAttention": true, "meanShortcut": true }
JSON
node dist/cli.js train-vae \
  --data fashion-mnist --config "$config" \
  --steps "${STEPS:-1100}" --max-minutes "$MINUTES" \
  --batch-size 16 --frames 1 --sizes 32x32 \
  --lr "${LR:-1e-3}" --warmup 100 --cosine --kl-weight 1e-6 \
  --checkpoint-every 250 --resume \
  --out "${OUT:-models/vae-fashion-x4.safetensors}" --out-dtype f16 --checkpoint "${CKPT:-models/vae-fashion-x4.ckpt}"
npm run --silent bench:vae -- --model "${OUT:-models/vae-fashion-x4.safetensors}" --world 0
