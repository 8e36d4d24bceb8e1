"""Baseline: the Flax example's recipe (transformers' examples/flax/text-classification/run_flax_glue.py)
on MRPC, rewritten for glue-cli's rows and the bundled model.

What the recipe does, and so does this script: every pair padded to 128 tokens when tokenized; a
`TrainState` with optax AdamW (eps 1e-6, no weight decay on biases and LayerNorm scales, warm-up then
linear decay to 0, no gradient clipping), float32 throughout (no mixed precision); `jax.pmap`-ed train
and eval steps (the train step donates its state, averages gradients over devices, splits the dropout
key each step); each epoch a `jax.random.permutation` of the rows with the last partial batch dropped,
batches converted to arrays and sharded over local devices; dev evaluated after each epoch in full
batches plus the leftover rows on one device.

Usage: GLUE_DIR=... python benchmarks/flax_example_mrpc.py [--max-train-samples N] [--max-eval-samples N]
       [--epochs E]
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
    args = parser.parse_args()
    os.environ.setdefault("USE_TORCH", "0")
    os.environ.setdefault("USE_TF", "0")

    import jax
    import jax.numpy as jnp
    import optax
    from flax import traverse_util
    from flax.jax_utils import replicate, unreplicate
    from flax.training import train_state
    from flax.training.common_utils import onehot, shard
    from transformers import AutoConfig, AutoTokenizer, FlaxAutoModelForSequenceClassification

    task, train, dev = mrpc_splits(args.max_train_samples, args.max_eval_samples)
    path = model_path()
    config = AutoConfig.from_pretrained(path, num_labels=2, finetuning_task="mrpc")
    tokenizer = AutoTokenizer.from_pretrained(path)
    # The checkpoint holds PyTorch weights only (safetensors), converted on load.
    model = FlaxAutoModelForSequenceClassification.from_pretrained(path, config=config, from_pt=True)

    def encode(split):
        cols = columns(split)
        out = tokenizer(cols["sentence1"], cols["sentence2"], padding="max_length", max_length=MAX_LENGTH,
                        truncation=True)
        return {**{k: np.asarray(v) for k, v in out.items()}, "labels": np.asarray(cols["label"])}

    train_set, dev_set = encode(train), encode(dev)
    devices = jax.local_device_count()
    train_batch, eval_batch = BATCH_SIZE * devices, EVAL_BATCH_SIZE * devices
    steps_per_epoch = len(train) // train_batch
    total_steps = steps_per_epoch * args.epochs
    warmup = 0
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, LEARNING_RATE, warmup),
         optax.linear_schedule(LEARNING_RATE, 0.0, total_steps - warmup)],
        boundaries=[warmup],
    )

    def decay_mask(params):
        flat = traverse_util.flatten_dict(params)
        return traverse_util.unflatten_dict(
            {k: k[-1] != "bias" and k[-2:] != ("LayerNorm", "scale") for k in flat})

    state = train_state.TrainState.create(
        apply_fn=model.__call__, params=model.params,
        tx=optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.0, mask=decay_mask),
    )

    def loss_of(logits, labels):
        return optax.softmax_cross_entropy(logits, onehot(labels, num_classes=2)).mean()

    def train_step(state, batch, dropout_rng):
        key, next_key = jax.random.split(dropout_rng)
        labels = batch.pop("labels")

        def loss_fn(params):
            logits = state.apply_fn(**batch, params=params, dropout_rng=key, train=True)[0]
            return loss_of(logits, labels)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        grads = jax.lax.pmean(grads, "batch")
        metrics = jax.lax.pmean({"loss": loss, "learning_rate": schedule(state.step)}, axis_name="batch")
        return state.apply_gradients(grads=grads), metrics, next_key

    def eval_step(state, batch):
        return state.apply_fn(**batch, params=state.params, train=False)[0].argmax(-1)

    p_train_step = jax.pmap(train_step, axis_name="batch", donate_argnums=(0,))
    p_eval_step = jax.pmap(eval_step, axis_name="batch")

    rng = jax.random.PRNGKey(SEED)
    dropout_rngs = jax.random.split(rng, devices)
    state = replicate(state)
    clock = EpochClock()
    predictions = np.zeros(0)
    for _ in range(args.epochs):
        rng, order_rng = jax.random.split(rng)
        order = np.asarray(jax.random.permutation(order_rng, len(train)))[: steps_per_epoch * train_batch]
        clock.begin()
        for rows in order.reshape(steps_per_epoch, train_batch):
            batch = shard({k: jnp.array(v[rows]) for k, v in train_set.items()})
            state, metrics, dropout_rngs = p_train_step(state, batch, dropout_rngs)
            clock.step()
        jax.block_until_ready(metrics)
        clock.step()
        clock.end()
        # Dev after each epoch, as the recipe does: full batches on every device, the leftover on one.
        found = []
        inputs = {k: v for k, v in dev_set.items() if k != "labels"}
        full = len(dev) // eval_batch
        for i in range(full):
            batch = {k: jnp.array(v[i * eval_batch : (i + 1) * eval_batch]) for k, v in inputs.items()}
            found.append(np.asarray(p_eval_step(state, shard(batch))).reshape(-1))
        if len(dev) % eval_batch:
            batch = {k: jnp.array(v[full * eval_batch :]) for k, v in inputs.items()}
            found.append(np.asarray(eval_step(unreplicate(state), batch)))
        predictions = np.concatenate(found)
    metrics_dev = scores(task, dev.labels, predictions)
    report("flax example (pad 128, pmap)", steps_per_epoch * train_batch, clock, metrics_dev,
           examples=len(train), epochs=args.epochs, loss=float(unreplicate(metrics)["loss"]))


if __name__ == "__main__":
    main()
