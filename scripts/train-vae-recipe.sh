# The VAE training recipes' shared part, sourced by scripts/train-vae-*.sh (not run alone).
#   train_vae NAME MINUTES [tessera train-vae options]
# builds dist/, then trains with the recipe's options plus the ones every recipe shares:
# resumable (--resume: run the recipe again after an interruption and it continues from
# the checkpoint), stopped after MINUTES of wall time, the model written as f16 to
# models/NAME.safetensors and the checkpoint to models/NAME.ckpt (OUT=... and CKPT=...
# choose other paths). Sets MODEL to the model file for the benchmark that follows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

train_vae() {
  local name="$1" minutes="$2"
  shift 2
  MODEL="${OUT:-models/$name.safetensors}"
  mkdir -p "$(dirname "$MODEL")"
  npx tsup --silent >/dev/null
  node dist/cli.js train-vae "$@" --max-minutes "$minutes" --resume \
    --out "$MODEL" --out-dtype f16 --checkpoint "${CKPT:-models/$name.ckpt}"
}
