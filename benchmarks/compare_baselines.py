"""glue-cli against the recipes people run today, on the same MRPC rows, in one sitting.

Runs `glue bench` (torch, tf, flax; fp32 and --amp by default) and each baseline script in its own
process, one after the other, every one training the first ROWS rows for EPOCHS epochs and timed
on the epochs after the first; then prints glue-cli's examples/s over each baseline's:

  glue-cli torch fp32   / Trainer (run_glue.py: pad to 128), fp32     target >= 3x
  glue-cli torch --amp  / Trainer fp32                                target >= 5x where bf16 is native
  glue-cli torch --amp  / Trainer --bf16                              (only where bf16 is native, or --trainer-bf16)
  glue-cli tf           / TF example (model.fit, dynamic padding)     target >= 3x
  glue-cli flax         / Flax example (pad to 128, pmap, fp32)       target >= 3x

Usage: GLUE_DIR=... python benchmarks/compare_baselines.py [--rows 512] [--epochs 2] [--eval-rows 64]
       [--modes fp32,amp] [--trainer-bf16] [--json]
Needs the torch, tf and flax extras and `accelerate` (for the Trainer). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# (glue-cli backend, glue-cli mode, baseline key, target ratio or None)
PAIRS = (
    ("torch", "fp32", "trainer", 3.0),
    ("torch", "amp", "trainer", 5.0),
    ("torch", "amp", "trainer --bf16", None),
    ("tf", "fp32", "tf model.fit", 3.0),
    ("flax", "fp32", "flax example", 3.0),
)


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_baseline(script: str, rows: int, epochs: int, eval_rows: int, *extra: str) -> dict[str, Any]:
    command = [sys.executable, str(HERE / script), "--max-train-samples", str(rows), "--max-eval-samples",
               str(eval_rows), "--epochs", str(epochs), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    result = last_json(done.stdout)
    if done.returncode != 0 or result is None:
        tail = [line for line in done.stderr.splitlines() if line.strip()][-1:] or ["no output"]
        return {"error": f"{script} exited with {done.returncode}: {tail[0]}"}
    return result


def run_glue_bench(rows: int, epochs: int, eval_rows: int, modes: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "glue_cli", "bench", "mrpc", "--backend", "torch,tf,flax", "--modes", modes,
               "--rows", str(rows), "--epochs", str(epochs), "--eval-rows", str(eval_rows), "--json", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"glue bench failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-rows", type=int, default=64)
    parser.add_argument("--modes", default="fp32,amp")
    parser.add_argument("--trainer-bf16", action="store_true",
                        help="Also time the Trainer with --bf16 where bf16 is not native (emulated: very slow).")
    parser.add_argument("--json", action="store_true", help="Print everything as one JSON object instead.")
    args = parser.parse_args()
    from glue_cli.training.backends import cpu_has_native_bf16

    native = cpu_has_native_bf16()
    bench = run_glue_bench(args.rows, args.epochs, args.eval_rows, args.modes)
    common = (args.rows, args.epochs, args.eval_rows)
    baselines = {
        "trainer": run_baseline("hf_trainer_mrpc.py", *common),
        "tf model.fit": run_baseline("tf_keras_fit_mrpc.py", *common),
        "flax example": run_baseline("flax_example_mrpc.py", *common),
    }
    if native or args.trainer_bf16:
        baselines["trainer --bf16"] = run_baseline("hf_trainer_mrpc.py", *common, "--bf16")
    cells = {(c["backend"], c["mode"]): c for c in bench["cells"]}
    rows = []
    for backend, mode, key, target in PAIRS:
        cell, base = cells.get((backend, mode)), baselines.get(key)
        row: dict[str, Any] = {"glue": f"{backend} {mode}", "baseline": key, "target": target}
        if cell is None or base is None:
            continue
        if cell["status"] != "ok" or "error" in base:
            row["note"] = cell.get("reason") if cell["status"] != "ok" else base["error"]
        else:
            ours, theirs = cell["examples_per_second"], base["examples_per_second"]
            row.update(glue_rate=ours, baseline_rate=theirs, ratio=round(ours / theirs, 2))
        rows.append(row)
    if args.json:
        print(json.dumps({"machine": bench["machine"], "bench": bench, "baselines": baselines, "ratios": rows},
                         indent=2))
        return
    m = bench["machine"]
    print(f"MRPC, first {args.rows} rows, {args.epochs} epochs, timed after the first. CPU: {m['cpu']} "
          f"({m['usable_threads']} threads), native bf16: {'yes' if native else 'no'}; GPU: "
          f"{', '.join(m['gpus']) or 'none'}")
    print(f"{'glue-cli':<14} {'baseline':<16} {'glue ex/s':>10} {'base ex/s':>10} {'ratio':>7} {'target':>7}")
    for r in rows:
        target = f">={r['target']:g}x" if r["target"] else "-"
        if "ratio" in r:
            print(f"{r['glue']:<14} {r['baseline']:<16} {r['glue_rate']:>10.2f} {r['baseline_rate']:>10.2f} "
                  f"{r['ratio']:>6.2f}x {target:>7}")
        else:
            print(f"{r['glue']:<14} {r['baseline']:<16} {'-':>10} {'-':>10} {'-':>7} {target:>7}  {r['note']}")
    for key, base in baselines.items():
        if "error" not in base:
            print(f"  {key}: epochs {base['epoch_seconds']} s, dev accuracy {base['accuracy']}, f1 {base['f1']}")


if __name__ == "__main__":
    main()
