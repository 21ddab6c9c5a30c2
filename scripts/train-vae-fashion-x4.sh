#!/usr/bin/env bash
# The Fashion-MNIST report at x4 spatial compression: a VAE of the same architecture with
# three levels (base 32, mult 1-2-4: x4 spatial, x4 temporal, 8 latent channels, the
# mean shortcut), trained on Fashion-MNIST's training split at 32x32 for 20 minutes on
# this machine's CPU, then benchmarked on the test split. (scripts/train-vae-fashion-x8.sh
# is the x8 report.) The cosine schedule spans 1100 steps, about what 20 minutes reach
# here (STEPS=...).
#   bash scripts/train-vae-fashion-x4.sh [minutes=20]
# Writes models/vae-fashion-x4.safetensors (not committed: rerun this script) and
# models/vae-fashion-x4.ckpt.
source "$(dirname "$0")/train-vae-recipe.sh"
config="$(mktemp --suffix=.json)"
trap 'rm -f "$config"' EXIT
cat > "$config" <<'JSON'
{ "latentChannels": 8, "baseChannels": 32, "channelMult": [1, 2, 4], "numResBlocks": 1,
  "spatialDown": 4, "temporalDown": 4, "normGroups": 8, "midAttention": true, "meanShortcut": true }
JSON
train_vae vae-fashion-x4 "${1:-20}" \
  --data fashion-mnist --config "$config" --steps "${STEPS:-1100}" \
  --batch-size 16 --frames 1 --sizes 32x32 \
  --lr "${LR:-1e-3}" --warmup 100 --cosine --kl-weight 1e-6 --checkpoint-every 250
npm run --silent bench:vae -- --model "$MODEL" --world 0
