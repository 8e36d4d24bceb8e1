"""The bundled MiniLM on MRPC, 1 worker against 2 (`--nproc 2`), per backend: dev metrics and wall times.

The figures the data-parallel closing notes and the README quote. CI asserts the same comparison on the
torch backend only (tests/backends/test_data_parallel.py, slow): every backend's exact 1- = 2-worker
equivalence is the tiny-model test; this script shows it on the real model, for tf and flax too.

Usage: GLUE_DIR=... python benchmarks/data_parallel_minilm.py [--backend torch,tf,flax] [--rows 600]
       [--epochs 3] [--lr 1e-4] [--out runs/dp-minilm]
Each run is a `glue train mrpc` in its own process; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def train(backend: str, out: Path, rows: int, epochs: int, lr: str, workers: int) -> dict:
    command = [sys.executable, "-m", "glue_cli", "train", "mrpc", "--backend", backend, "--max-train-samples",
               str(rows), "--epochs", str(epochs), "--learning-rate", lr, "--output-dir", str(out), "-q",
               "--overwrite"]
    if workers > 1:
        command += ["--nproc", str(workers)]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"backend": backend, "workers": workers, "validation": metrics["eval"]["validation"],
            "train_seconds": metrics["train"]["seconds"], "command_seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch,tf,flax")
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", default="1e-4")
    parser.add_argument("--out", type=Path, default=Path("runs/dp-minilm"))
    args = parser.parse_args()
    for backend in args.backend.split(","):
        for workers in (1, 2):
            row = train(backend, args.out / f"{backend}-{workers}", args.rows, args.epochs, args.lr, workers)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
