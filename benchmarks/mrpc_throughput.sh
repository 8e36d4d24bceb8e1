#!/usr/bin/env bash
# Training throughput on MRPC, in one sitting: glue-cli's torch backend (fp32, --amp, forced bf16)
# next to Hugging Face's Trainer padding every pair to 128 tokens as run_glue.py does.
# Usage: GLUE_DIR=/path/to/glue_data bash benchmarks/mrpc_throughput.sh [TRAIN_ROWS] [BF16_ROWS]
# Needs: pip install accelerate (for the Trainer baseline).
set -euo pipefail
rows="${1:-320}"
bf16_rows="${2:-96}"
out="$(mktemp -d)"
common=(--backend torch --epochs 1 --max-eval-samples 32 --quiet --json --overwrite)
speed() { python -c 'import json,sys; t=json.load(sys.stdin)["train"]; print(t["epoch_seconds"][0], "s,", t["examples_per_second"], "examples/s")'; }
echo "rows=$rows  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  threads: $(nproc)"
echo -n "glue-cli torch fp32:        "; glue train mrpc "${common[@]}" --max-train-samples "$rows" --output-dir "$out/fp32" | speed
echo -n "glue-cli torch --amp:       "; glue train mrpc "${common[@]}" --max-train-samples "$rows" --output-dir "$out/amp" --amp 2>/dev/null | speed
echo -n "glue-cli torch bf16 ($bf16_rows rows): "; glue train mrpc "${common[@]}" --max-train-samples "$bf16_rows" --output-dir "$out/bf16" --precision bf16 | speed
echo -n "glue-cli torch fp32 ($bf16_rows rows): "; glue train mrpc "${common[@]}" --max-train-samples "$bf16_rows" --output-dir "$out/fp32s" | speed
echo -n "HF Trainer, padded to 128:  "; python "$(dirname "$0")/hf_trainer_mrpc.py" --max-train-samples "$rows" --epochs 1 2>/dev/null | tail -1
rm -rf "$out"
