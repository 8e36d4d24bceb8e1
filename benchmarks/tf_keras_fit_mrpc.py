"""Baseline: the TensorFlow example's recipe (transformers' examples/tensorflow/text-classification/run_glue.py)
on MRPC, rewritten for glue-cli's rows and the bundled model.

What the recipe does, and so does this script: tokenize with truncation to 128 and no padding;
`model.prepare_tf_dataset` over a `datasets.Dataset` with `DataCollatorWithPadding` (each batch padded
to its longest row), shuffled, the last partial training batch dropped; `create_optimizer` (AdamWeightDecay,
linear decay to 0, global gradient clipping at 1.0); `model.compile` with the model's own loss, accuracy
as metric and `jit_compile` only with --xla; `model.fit` with the dev set as validation data, then
`model.predict` on dev. --fp16 sets the `mixed_float16` policy as the script's --fp16 does.

Usage: GLUE_DIR=... python benchmarks/tf_keras_fit_mrpc.py [--max-train-samples N] [--max-eval-samples N]
       [--epochs E] [--xla] [--fp16]
Prints one JSON line: examples/s over the epochs after the first, epoch times, dev metrics.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from baseline_common import (
    BATCH_SIZE,
    EVAL_BATCH_SIZE,
    LEARNING_RATE,
    MAX_LENGTH,
    SEED,
    EpochClock,
    columns,
    model_path,
    mrpc_splits,
    report,
    scores,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-train-samples", type=int)
    parser.add_argument("--max-eval-samples", type=int)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--fp16", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("USE_TORCH", "0")
    os.environ.setdefault("USE_FLAX", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tf_keras as keras
    from datasets import Dataset
    from transformers import (
        AutoConfig,
        AutoTokenizer,
        DataCollatorWithPadding,
        TFAutoModelForSequenceClassification,
        create_optimizer,
        set_seed,
    )

    task, train, dev = mrpc_splits(args.max_train_samples, args.max_eval_samples)
    if args.fp16:
        keras.mixed_precision.set_global_policy("mixed_float16")
    set_seed(SEED)
    path = model_path()
    config = AutoConfig.from_pretrained(path, num_labels=2, finetuning_task="mrpc")
    tokenizer = AutoTokenizer.from_pretrained(path)

    def tokenize(batch):
        return tokenizer(batch["sentence1"], batch["sentence2"], padding=False, max_length=MAX_LENGTH,
                         truncation=True)

    train_set = Dataset.from_dict(columns(train)).map(tokenize, batched=True)
    dev_set = Dataset.from_dict(columns(dev)).map(tokenize, batched=True)
    collator = DataCollatorWithPadding(tokenizer, return_tensors="np")
    # The checkpoint holds PyTorch weights only (safetensors); the recipe loads whatever the folder has.
    model = TFAutoModelForSequenceClassification.from_pretrained(path, config=config, from_pt=True)
    train_data = model.prepare_tf_dataset(train_set, shuffle=True, batch_size=BATCH_SIZE, collate_fn=collator,
                                          tokenizer=tokenizer)
    dev_data = model.prepare_tf_dataset(dev_set, shuffle=False, batch_size=EVAL_BATCH_SIZE, collate_fn=collator,
                                        tokenizer=tokenizer)
    optimizer, _ = create_optimizer(
        init_lr=LEARNING_RATE, num_train_steps=len(train_data) * args.epochs, num_warmup_steps=0,
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, weight_decay_rate=0.0, adam_global_clipnorm=1.0,
    )
    model.compile(optimizer=optimizer, metrics=["accuracy"], jit_compile=args.xla)

    clock = EpochClock()

    class Timer(keras.callbacks.Callback):
        # Keras calls on_epoch_end after the validation pass: the epoch ends at its last training batch.
        def on_epoch_begin(self, epoch, logs=None):
            clock.begin()

        def on_train_batch_end(self, batch, logs=None):
            clock.step()

        def on_epoch_end(self, epoch, logs=None):
            clock.end()

    model.fit(train_data, validation_data=dev_data, epochs=args.epochs, callbacks=[Timer()], verbose=0)
    logits = model.predict(dev_data, verbose=0)["logits"]
    metrics = scores(task, dev.labels, np.argmax(logits, axis=-1))
    recipe = "tf model.fit" + (" --xla" if args.xla else "") + (" --fp16" if args.fp16 else "")
    report(recipe, len(train_data) * BATCH_SIZE, clock, metrics, examples=len(train), epochs=args.epochs)


if __name__ == "__main__":
    main()
