"""Baseline: Hugging Face's Trainer on MRPC the way run_glue.py does it (every pair padded to 128).

Usage: python benchmarks/hf_trainer_mrpc.py [--max-train-samples N] [--max-eval-samples N] [--epochs E] [--bf16]
Needs `accelerate` (pip install accelerate). Prints one JSON line: dev metrics, epoch times and examples/s over
the epochs after the first (over the only one when --epochs 1), as the other baselines do.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from baseline_common import EpochClock, mrpc_splits, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-train-samples", type=int)
    parser.add_argument("--max-eval-samples", type=int)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--dynamic-padding", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("USE_TF", "0")
    os.environ.setdefault("USE_FLAX", "0")

    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    from glue_cli.training.metrics import compute
    from glue_cli.training.models import bundled_model_path

    task, train, dev = mrpc_splits(args.max_train_samples, args.max_eval_samples)
    model_path = str(bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    padding = False if args.dynamic_padding else "max_length"

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, split):
            a, b = zip(*split.texts, strict=True)
            self.enc = tokenizer(list(a), list(b), truncation=True, max_length=128, padding=padding)
            self.labels = split.labels

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return {**{k: v[i] for k, v in self.enc.items()}, "labels": int(self.labels[i])}

    set_seed(42)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    training = TrainingArguments(
        output_dir="/tmp/hf-trainer-mrpc", per_device_train_batch_size=32,
        per_device_eval_batch_size=64, learning_rate=2e-5, num_train_epochs=args.epochs, seed=42,
        bf16=args.bf16, use_cpu=True, report_to=[], save_strategy="no", logging_strategy="no",
        disable_tqdm=True,
    )

    def metrics(pred):
        return compute(task.metrics, pred.label_ids, np.argmax(pred.predictions, axis=-1))

    clock = EpochClock()

    class Timer(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            clock.begin()

        def on_step_end(self, args, state, control, **kwargs):
            clock.step()

        def on_epoch_end(self, args, state, control, **kwargs):
            clock.end()

    trainer = Trainer(
        model=model, args=training, train_dataset=Pairs(train), eval_dataset=Pairs(dev),
        data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=metrics, callbacks=[Timer()],
    )
    out = trainer.train()
    result = trainer.evaluate()
    recipe = "trainer" + (" --bf16" if args.bf16 else "") + (" --dynamic-padding" if args.dynamic_padding else "")
    report(
        recipe, len(train), clock, {"accuracy": round(result["eval_accuracy"], 4), "f1": round(result["eval_f1"], 4)},
        examples=len(train), epochs=args.epochs, train_seconds=round(out.metrics["train_runtime"], 1),
        trainer_samples_per_second=round(out.metrics["train_samples_per_second"], 2),
    )


if __name__ == "__main__":
    main()
