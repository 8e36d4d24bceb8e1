#!/usr/bin/env bash
# MRPC epoch time of every backend and precision mode, in one sitting, on the first N training rows.
# Each run trains 2 epochs and reports the 2nd (as the seed's table does): the 1st includes
# TensorFlow tracing / XLA and jit compilation, which a full run pays once.
# Usage: GLUE_DIR=/path/to/glue_data bash benchmarks/mrpc_backends.sh [TRAIN_ROWS] [BF16_ROWS]
# Needs the torch, tf and flax extras. Run it on an otherwise idle machine.
set -euo pipefail
rows="${1:-320}"
bf16_rows="${2:-64}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "rows=$rows (bf16: $bf16_rows)  cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  threads: $(nproc)"
printf '%-28s %-9s %12s %14s %12s\n' run precision "epoch 2 (s)" "examples/s" "full epoch*"
report='
import json, sys
label, n = sys.argv[1], int(sys.argv[2])
m = json.load(sys.stdin)
second = m["train"]["epoch_seconds"][1]
print("%-28s %-9s %12.1f %14.2f %11.0fs" % (label, m["precision"], second, n / second, 3668 / n * second))
'
time_one() {  # label, rows, glue train flags...
  local label="$1" n="$2"; shift 2
  glue train mrpc --epochs 2 --max-train-samples "$n" --max-eval-samples 32 --quiet --json --overwrite \
    --output-dir "$out/run" "$@" 2>/dev/null | python -c "$report" "$label" "$n"
}
time_one "torch" "$rows" --backend torch
time_one "torch --amp" "$rows" --backend torch --amp
time_one "tf" "$rows" --backend tf
time_one "tf --amp" "$rows" --backend tf --amp
time_one "tf --xla" "$rows" --backend tf --xla
time_one "tf --amp --xla" "$rows" --backend tf --amp --xla
time_one "flax" "$rows" --backend flax
time_one "flax --amp" "$rows" --backend flax --amp
# Forced bf16 on fewer rows (it can be very slow on CPUs without native bf16), next to fp32 on
# the same rows: the first rows' lengths differ from the first $rows', so compare like with like.
for backend in torch tf flax; do
  time_one "$backend --precision bf16" "$bf16_rows" --backend "$backend" --precision bf16
  time_one "$backend (same $bf16_rows rows)" "$bf16_rows" --backend "$backend"
done
echo "* full epoch: the 2nd-epoch rate scaled to MRPC's 3668 training rows"
