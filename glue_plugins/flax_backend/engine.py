"""The JAX/Flax engine: a transformers Flax model, optax AdamW, jit-compiled steps, data parallel.

Parameters and optimizer state stay float32 and are replicated on every device of a 1-D mesh;
each batch is split over the devices on its row axis. With several JAX processes
(``jax.distributed``) the mesh spans every process's devices: each process feeds its shard of the
global batch (``jax.make_array_from_process_local_data``) and one jit step computes the loss and
gradients of the whole global batch. jit compiles once per batch shape: the
core pads lengths to multiples of 4 and every batch to full rows (``COMPILED_PADDING``), so a run
compiles at most ``ceil(max_seq_length / 4)`` times per step kind, and keeps what it compiled on disk
for the next run (``use_compilation_cache``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.core import unfreeze
from flax.traverse_util import flatten_dict, unflatten_dict
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from glue_cli.api import (
    Batch,
    ConfigError,
    EngineBase,
    ModelError,
    ModelSpec,
    batch_targets,
    decays,
    glue_cache_dir,
    has_safetensors,
    label_arguments,
    load_error,
    quiet_transformers,
    read_safetensors,
)
from glue_plugins.flax_backend.first_token import first_token_last
from glue_plugins.flax_backend.weights import flax_to_pt, pt_to_flax

DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def param_name(path: tuple[Any, ...]) -> str:
    """``bert.encoder.layer.0.output.LayerNorm.scale``: a tree path as the dotted name decays() reads."""
    return ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def pick_devices(wanted: int | None) -> list[Any]:
    found = jax.local_devices()
    if wanted is None:
        return found
    if wanted < 1 or wanted > len(found):
        raise ConfigError(
            f"--devices {wanted}: {len(found)} {found[0].platform} device(s) are visible here.",
            f"Use --devices between 1 and {len(found)}, or leave it out to use them all.",
        )
    return found[:wanted]


# XLA's persistent cache of compiled steps, in glue's cache folder; least recently used entries go past this size.
COMPILATION_CACHE_BYTES = 2 * 1024**3


def use_compilation_cache() -> None:
    """Keep compiled steps on disk (``glue_cache_dir() / "xla"``): a later run of the same model, batch
    shapes and precision loads each step instead of compiling it again. JAX reads the setting once
    per process; a cache folder the user chose (``JAX_COMPILATION_CACHE_DIR``) wins."""
    settings = jax.config.values  # JAX's Config declares no attribute per option: mypy knows these
    if settings["jax_compilation_cache_dir"] is None:
        jax.config.update("jax_compilation_cache_dir", str(glue_cache_dir() / "xla"))
        if settings["jax_compilation_cache_max_size"] == -1:
            jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_BYTES)


def mesh_devices(per_process: int) -> list[Any]:
    """The first ``per_process`` devices of every JAX process, process by process (just the local
    ones in a single process): the same list in every process, as a mesh must be."""
    if jax.process_count() == 1:
        return jax.local_devices()[:per_process]
    ordered = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return [d for p in range(jax.process_count()) for d in [d for d in ordered if d.process_index == p][:per_process]]


def load_model(spec: ModelSpec, dtype: Any) -> tuple[Any, dict[str, Any]]:
    """The Flax model class for ``spec.path`` and its float32 parameters.

    Weights come from ``model.safetensors`` in PyTorch naming (converted with numpy, no torch
    needed) or from a Flax ``flax_model.msgpack``; whatever they lack (a new classification
    head) keeps its initialisation from ``spec.seed``.
    """
    from transformers import AutoConfig, FlaxAutoModelForSequenceClassification

    quiet_transformers(spec.verbose)
    folder = Path(spec.path)
    try:
        config = AutoConfig.from_pretrained(spec.path, **label_arguments(spec))
        model = FlaxAutoModelForSequenceClassification.from_config(
            config, seed=spec.seed, dtype=dtype, _do_init=False
        )
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(spec, "Flax", exc) from None
    fresh = flatten_dict(unfreeze(model.init_weights(jax.random.PRNGKey(spec.seed), model.input_shape)))
    template = {k: np.asarray(v) for k, v in fresh.items()}
    if has_safetensors(folder):
        mapped, unused = pt_to_flax(read_safetensors(folder), template, model.base_model_prefix)
    elif (folder / "flax_model.msgpack").is_file():
        from flax.serialization import msgpack_restore  # msgpack, not pickle

        stored = flatten_dict(msgpack_restore((folder / "flax_model.msgpack").read_bytes()))
        mapped = {k: np.asarray(v, np.float32) for k, v in stored.items()
                  if k in template and v.shape == template[k].shape}
        unused = [".".join(k) for k in stored if k not in mapped]
    else:
        raise ModelError(
            f"No model.safetensors nor flax_model.msgpack in {spec.path!r}.",
            "The flax backend reads safetensors weights (PyTorch naming) or Flax msgpack.",
        )
    if not mapped:
        raise ModelError(f"The weights in {spec.path!r} do not fit a {config.model_type} model.", "")
    if spec.verbose:
        fresh_keys = sorted(".".join(k) for k in template if k not in mapped)
        print(f"flax: newly initialised: {fresh_keys}; unused weights: {sorted(unused)}", file=sys.stderr)
    return model, unflatten_dict({**template, **mapped})


class FlaxEngine(EngineBase):
    def __init__(self, spec: ModelSpec) -> None:
        if spec.precision not in DTYPES:
            raise ModelError(f"The flax backend does not run {spec.precision}.", "Use fp32 or bf16.")
        local = pick_devices(spec.devices)
        self.num_devices = len(local)
        devices = mesh_devices(len(local))
        first = devices[0]
        super().__init__(
            spec, f"{first.platform}:{first.id}" if len(devices) == 1 else f"{first.platform} x{len(devices)}"
        )
        use_compilation_cache()  # before anything compiles (the model's set-up below does)
        mesh = Mesh(np.array(devices), ("data",))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.rows = NamedSharding(mesh, PartitionSpec("data"))
        # The model computes in the run's precision; its parameters stay float32.
        self.model, params = load_model(spec, DTYPES[spec.precision])
        self.params = jax.device_put(params, self.replicated)
        decay_mask = jax.tree_util.tree_map_with_path(lambda path, _: decays(param_name(path)), params)
        settings = spec.optimizer
        self.tx = optax.chain(
            optax.clip_by_global_norm(settings.max_grad_norm),
            # The rate is a hyperparameter in the state, set by every step; the mask is static.
            optax.inject_hyperparams(optax.adamw, static_args=("mask",))(
                learning_rate=0.0, b1=settings.beta1, b2=settings.beta2, eps=settings.epsilon,
                weight_decay=settings.weight_decay, mask=decay_mask,
            ),
        )
        self.opt_state = jax.device_put(self.tx.init(self.params), self.replicated)
        self.dropout_key = jax.device_put(jax.random.PRNGKey(spec.seed), self.replicated)
        self.step = 0
        self.traces = {"train": 0, "predict": 0}
        # Donating the old parameters and state lets XLA update them in place.
        self._train = jax.jit(self._train_step, out_shardings=self.replicated, donate_argnums=(0, 1))
        self._predict = jax.jit(self._predict_step, out_shardings=self.replicated)
        # Gradient accumulation: each micro-batch's gradients, summed, then one update.
        self._grads = jax.jit(self._grads_step, out_shardings=self.replicated)
        self._add = jax.jit(lambda a, b: jax.tree_util.tree_map(jnp.add, a, b), donate_argnums=(0,))
        self._apply = jax.jit(self._apply_step, out_shardings=self.replicated, donate_argnums=(0, 1))

    # Traced functions: the Python body runs once per compile, so the counters count compiles.
    def _loss(self, logits: jax.Array, labels: jax.Array, weights: jax.Array, total: jax.Array | None = None,
              ) -> jax.Array:
        logits = logits.astype(jnp.float32)
        if self.spec.regression:
            per_example = jnp.square(logits[:, 0] - labels)
        elif labels.ndim == 2:  # label smoothing: soft targets
            per_example = optax.softmax_cross_entropy(logits, labels)
        else:
            per_example = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        # ``total``: the weight of all micro-batches of an accumulated update.
        return jnp.sum(per_example * weights) / (jnp.sum(weights) if total is None else total)

    def _logits(self, params: Any, inputs: dict[str, jax.Array], dropout: jax.Array | None = None) -> jax.Array:
        """The model's forward as traced into every step; training when given a dropout key."""
        with first_token_last(self.model):
            if dropout is None:
                return self.model(**inputs, params=params, train=False).logits
            return self.model(**inputs, params=params, dropout_rng=dropout, train=True).logits

    def _train_step(
        self, params: Any, opt_state: Any, rate: jax.Array, key: jax.Array, step: jax.Array,
        inputs: dict[str, jax.Array], labels: jax.Array, weights: jax.Array,
    ) -> tuple[Any, Any, jax.Array]:
        self.traces["train"] += 1
        dropout = jax.random.fold_in(key, step)  # depends on (seed, step) only: resumable

        def loss_of(p: Any) -> jax.Array:
            return self._loss(self._logits(p, inputs, dropout), labels, weights)

        loss, grads = jax.value_and_grad(loss_of)(params)
        clip_state, adamw_state = opt_state
        hyper = {**adamw_state.hyperparams, "learning_rate": rate}
        opt_state = (clip_state, adamw_state._replace(hyperparams=hyper))
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def _grads_step(
        self, params: Any, key: jax.Array, step: jax.Array, micro: jax.Array, inputs: dict[str, jax.Array],
        labels: jax.Array, weights: jax.Array, total: jax.Array,
    ) -> tuple[jax.Array, Any]:
        """One micro-batch's share of an accumulated update: its loss over ``total`` and its gradients."""
        self.traces["train"] += 1
        dropout = jax.random.fold_in(jax.random.fold_in(key, step), micro)  # (seed, step, micro-batch)

        def loss_of(p: Any) -> jax.Array:
            return self._loss(self._logits(p, inputs, dropout), labels, weights, total)

        return jax.value_and_grad(loss_of)(params)

    def _apply_step(self, params: Any, opt_state: Any, rate: jax.Array, grads: Any) -> tuple[Any, Any]:
        self.traces["train"] += 1
        clip_state, adamw_state = opt_state
        hyper = {**adamw_state.hyperparams, "learning_rate": rate}
        opt_state = (clip_state, adamw_state._replace(hyperparams=hyper))
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def _predict_step(self, params: Any, inputs: dict[str, jax.Array]) -> jax.Array:
        self.traces["predict"] += 1
        return self._logits(params, inputs).astype(jnp.float32)

    def _inputs(self, batch: Batch) -> tuple[int, dict[str, jax.Array], jax.Array, jax.Array]:
        """The model's inputs, labels and weights split over the devices, with filler rows so each gets as many."""
        rows = batch.input_ids.shape[0]
        extra = -rows % self.num_devices

        def split(a: np.ndarray) -> jax.Array:
            padded = np.pad(a, [(0, extra)] + [(0, 0)] * (a.ndim - 1))
            if jax.process_count() == 1:
                return jax.device_put(padded, self.rows)
            # This process's rows of the global batch (every process's shard has the same shape).
            return jax.make_array_from_process_local_data(self.rows, padded)

        inputs = {name: split(a) for name, a in self.model_inputs(batch).items()}
        return rows, inputs, split(batch_targets(batch, self.spec)), split(batch.weights)

    def train_step(self, batch: Batch, learning_rate: float) -> float:
        _, inputs, labels, weights = self._inputs(batch)
        self.params, self.opt_state, loss = self._train(
            self.params, self.opt_state, np.float32(learning_rate), self.dropout_key, np.int32(self.step),
            inputs, labels, weights,
        )
        self.step += 1
        return float(loss)

    def train_micro_batches(self, batches: list[Batch], learning_rate: float) -> float:
        """The joined batch's update, one micro-batch in memory at a time."""
        parts = [self._inputs(batch)[1:] for batch in batches]
        # The real rows of the whole update, summed over the global arrays (every process's shard):
        # this process's rows alone would scale a multi-process update by the number of processes.
        total = np.float32(sum(float(jnp.sum(weights)) for _, _, weights in parts))
        grads, loss = None, 0.0
        for micro, (inputs, labels, weights) in enumerate(parts):
            part, g = self._grads(self.params, self.dropout_key, np.int32(self.step), np.int32(micro),
                                  inputs, labels, weights, total)
            grads = g if grads is None else self._add(grads, g)
            loss += float(part)
        self.params, self.opt_state = self._apply(self.params, self.opt_state, np.float32(learning_rate), grads)
        self.step += 1
        return loss

    def predict(self, batch: Batch) -> np.ndarray:
        rows, inputs, _, _ = self._inputs(batch)
        start = jax.process_index() * (rows + -rows % self.num_devices)  # this process's rows come after
        return np.asarray(self._predict(self.params, inputs))[start : start + rows]

    def model_config(self) -> Any:
        return self.model.config

    def architecture(self) -> str:
        return type(self.model).__name__.removeprefix("Flax")

    def weights(self) -> dict[str, np.ndarray]:
        return flax_to_pt(flatten_dict(jax.device_get(self.params)))

    def _state_leaves(self) -> tuple[list[str], list[Any], Any]:
        with_paths, treedef = jax.tree_util.tree_flatten_with_path(self.opt_state)
        return [jax.tree_util.keystr(p) for p, _ in with_paths], [v for _, v in with_paths], treedef

    def state_arrays(self) -> dict[str, np.ndarray]:
        names, leaves, _ = self._state_leaves()
        arrays = {n: np.asarray(v) for n, v in zip(names, jax.device_get(leaves), strict=True)}
        return {**arrays, "step": np.asarray(self.step, np.int64)}

    def restore_state(self, arrays: dict[str, np.ndarray]) -> None:
        names, leaves, treedef = self._state_leaves()
        restored = [arrays[n].astype(np.asarray(v).dtype) for n, v in zip(names, leaves, strict=True)]
        self.opt_state = jax.device_put(jax.tree_util.tree_unflatten(treedef, restored), self.replicated)
        self.step = int(arrays["step"])

    def compile_count(self) -> int:
        return sum(self.traces.values())


