"""The TensorFlow engine: a transformers TF model (tf_keras), AdamW, mixed precision, XLA.

The steps are ``tf.function``s; with ``--xla`` they are XLA-compiled (``jit_compile=True``)
once per input shape, and the core pads batches to a few shapes (lengths in steps of 16,
full batches), so a run traces each step at most once per length bucket.

Data parallel goes through ``tf.distribute``: with a strategy (several workers: the world's
``MultiWorkerMirroredStrategy``; ``--devices N``: a ``MirroredStrategy``) the model and optimizer
are built in its scope and each step is ``strategy.run`` of a replica function. Each replica takes
its equal part of this worker's shard (filler rows, weight 0, complete it), all-reduces the real-row
count and the loss's gradients (sum over every replica of every worker: the gradient of the mean
over the global batch's real rows), clips them by their global norm and applies the same update.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from glue_cli.api import (
    BackendUnavailableError,
    Batch,
    EngineBase,
    ModelError,
    ModelSpec,
    batch_targets,
    decays,
    has_safetensors,
    label_arguments,
    load_error,
    quiet_transformers,
    read_safetensors,
)
from glue_plugins.tf_backend.backend import load_tensorflow
from glue_plugins.tf_backend.first_token import compute_first_token_last
from glue_plugins.tf_backend.world import peers_checked

tf = load_tensorflow()  # sets TF_CPP_MIN_LOG_LEVEL before TF loads its C++ core

import tf_keras  # noqa: E402

# Keras 3's mixed-precision policy is ignored by transformers' models: they are tf_keras models.
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Layers take the global policy when built; it is process-global, so put it back after."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


@contextmanager
def resumable_dropout() -> Iterator[None]:
    """Build dropout layers on ``tf.random.Generator``s: their state is a variable we can save
    (so a resumed run draws the same masks as an uninterrupted one) and XLA compiles them."""
    switch = tf_keras.backend.experimental
    was = switch.is_tf_random_generator_enabled()
    switch.enable_tf_random_generator()
    try:
        yield
    finally:
        if not was:
            switch.disable_tf_random_generator()


def load_model(spec: ModelSpec) -> Any:
    from transformers import TFAutoModelForSequenceClassification
    from transformers.utils import is_tf_available

    if not is_tf_available():
        # transformers reads USE_TF/USE_TORCH once, when first imported in a process.
        raise BackendUnavailableError(
            "transformers was imported in this process with TensorFlow switched off "
            f"(USE_TF={os.environ.get('USE_TF', 'unset')}, USE_TORCH={os.environ.get('USE_TORCH', 'unset')}).",
            "Unset USE_TF and USE_TORCH, or run the tf backend in a process of its own.",
        )

    quiet_transformers(spec.verbose)  # also TF's deprecation notice
    folder = Path(spec.path)
    labels = label_arguments(spec)
    try:
        if folder.is_dir() and has_safetensors(folder):
            return model_from_pt_safetensors(folder, labels)
        # A TF checkpoint (tf_model.h5; hub ids arrive as cached folders): transformers' own loader.
        return TFAutoModelForSequenceClassification.from_pretrained(spec.path, **labels)
    except (OSError, ValueError, RuntimeError, ImportError, AttributeError) as exc:
        raise load_error(spec, "TensorFlow", exc) from None


def model_from_pt_safetensors(folder: Path, labels: dict[str, Any]) -> Any:
    """Our model folders hold PyTorch-named safetensors (the bundled MiniLM has nothing else).

    transformers' ``from_pt=True`` imports torch to read them, and its TF-native safetensors path
    fails with safetensors 0.8, so the arrays are read with numpy and handed to the same
    PyTorch-to-TF name mapping that ``from_pt`` uses; a new head keeps its seeded initial values.
    """
    from transformers import AutoConfig, TFAutoModelForSequenceClassification
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config = AutoConfig.from_pretrained(str(folder), **labels)
    model = TFAutoModelForSequenceClassification.from_config(config)
    return load_pytorch_state_dict_in_tf2_model(
        model, read_safetensors(folder), allow_missing_keys=True,
        tf_to_pt_weight_rename=getattr(model, "tf_to_pt_weight_rename", None),
    )


def pytorch_name(variable: Any) -> tuple[str, bool]:
    """The PyTorch state-dict name of a model variable, and whether its matrix is transposed."""
    from transformers.modeling_tf_pytorch_utils import (
        TransposeType,
        convert_tf_weight_name_to_pt_weight_name,
    )

    name, transpose = convert_tf_weight_name_to_pt_weight_name(
        variable.name, tf_weight_shape=variable.shape
    )
    if transpose not in (TransposeType.NO, TransposeType.SIMPLE):
        raise ModelError(f"Cannot convert weight {variable.name} to PyTorch naming.", "")
    return name, transpose is TransposeType.SIMPLE


def dropout_generators(model: Any) -> list[Any]:
    """The ``tf.random.Generator`` of every dropout layer, in a fixed (model structure) order."""
    found = []
    for layer in model.submodules:
        generator = getattr(getattr(layer, "_random_generator", None), "_generator", None)
        if isinstance(generator, tf.random.Generator):
            found.append(generator)
    return found


def pad_rows(arrays: list[np.ndarray], parts: int) -> list[np.ndarray]:
    """The arrays' rows completed with zero rows (filler: weight 0) to a multiple of ``parts``."""
    extra = -arrays[0].shape[0] % parts
    if not extra:
        return arrays
    return [np.pad(a, [(0, extra)] + [(0, 0)] * (a.ndim - 1)) for a in arrays]


class TFEngine(EngineBase):
    def __init__(self, spec: ModelSpec, device: str, strategy: Any = None) -> None:
        super().__init__(spec, device)
        if spec.precision == "fp16" and not self.device.startswith("gpu"):
            raise ModelError("fp16 needs a GPU.", "Use --precision bf16 on a CPU.")
        # tf.distribute (None: one device): replicas on this worker's devices, each a part of the shard.
        self.strategy = strategy
        self.replicas = len(strategy.extended.worker_devices) if strategy is not None else 1
        with strategy.scope() if strategy is not None else nullcontext():
            tf_keras.utils.set_random_seed(spec.seed)  # the new head, dropout generators
            with precision_policy(spec.precision), resumable_dropout():
                self.model = load_model(spec)
            self.first_token_last = compute_first_token_last(self.model)  # before any step is traced
            self.variables = list(self.model.trainable_variables)
            self.pt_names = {id(v): pytorch_name(v) for v in self.model.weights}
            self.optimizer = self._optimizer()
        self.generators = dropout_generators(self.model)
        self.traces = {"train": 0, "predict": 0}
        if strategy is not None:
            # XLA compiles no collective on a CPU (and TF advises against it on GPUs): with --xla each
            # replica's forward and backward are compiled, the all-reduces and the update stay outside.
            jit = tf.function(jit_compile=True) if spec.xla else (lambda fn: fn)
            self._local_grads, self._local_logits = jit(self._loss_grads), jit(self._replica_logits)
            self._train = self._compile(self._distributed_train, training=True, jit=False)
            self._predict = self._compile(self._distributed_predict, training=False, jit=False)
            self._grads = self._compile(self._distributed_grads, training=True, jit=False,
                                        extra=[tf.TensorSpec([], tf.float32)])
            self._apply = tf.function(self._distributed_apply, reduce_retracing=True)
            return
        self._train = self._compile(self._train_body, training=True)
        self._predict = self._compile(self._predict_body, training=False)
        # Gradient accumulation: each micro-batch's gradients, summed in Python, then one update.
        self._grads = self._compile(self._grads_body, training=True, extra=[tf.TensorSpec([], tf.float32)])
        self._apply = (tf.function(self._apply_body, jit_compile=True) if spec.xla
                       else tf.function(self._apply_body, reduce_retracing=True))

    def _optimizer(self) -> Any:
        settings = self.spec.optimizer
        optimizer = tf_keras.optimizers.AdamW(
            learning_rate=0.0,  # a variable: the core assigns the schedule's rate every step
            weight_decay=settings.weight_decay,
            beta_1=settings.beta1,
            beta_2=settings.beta2,
            epsilon=settings.epsilon,
            jit_compile=self.spec.xla and self.strategy is None,  # XLA's update reads one device's variables
        )
        optimizer.exclude_from_weight_decay(
            var_list=[v for v in self.variables if not decays(self.pt_names[id(v)][0])]
        )
        optimizer.build(self.variables)  # slots exist before tracing and before load_state
        if self.spec.precision == "fp16":
            return tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
        return optimizer

    def _compile(self, body: Any, training: bool, extra: list[Any] | None = None, jit: bool = True) -> Any:
        if self.spec.xla:
            # One trace (and XLA compilation) per input shape: the core keeps shapes few.
            return tf.function(body, jit_compile=jit)
        # Without XLA, one graph serves every length: trace once with open dimensions.
        signature: list[Any] = [{name: tf.TensorSpec([None, None], tf.int32) for name in self.spec.inputs}]
        if training:
            label_dtype = tf.float32 if self.spec.regression else tf.int32
            # Label smoothing: float targets [rows, num_labels] (batch_targets) instead of class ids.
            smoothed = not self.spec.regression and self.spec.label_smoothing > 0
            targets = tf.TensorSpec([None, self.spec.num_labels], tf.float32) if smoothed else tf.TensorSpec(
                [None], label_dtype)
            signature += [targets, tf.TensorSpec([None], tf.float32),
                          tf.TensorSpec([], tf.float32)]
        return tf.function(body, input_signature=signature + (extra or []))

    def _forward(self, inputs: dict[str, Any], training: bool) -> Any:
        return self.model(**inputs, training=training).logits

    def _loss(self, logits: Any, labels: Any, weights: Any, total: Any = None) -> Any:
        logits = tf.cast(logits, tf.float32)
        if self.spec.regression:
            per_example = tf.square(logits[:, 0] - labels)
        elif labels.shape.rank == 2:  # label smoothing: soft targets
            per_example = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        else:
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        # ``total``: the weight of all micro-batches of an accumulated update.
        return tf.reduce_sum(per_example * weights) / (tf.reduce_sum(weights) if total is None else total)

    def _train_body(self, inputs: dict[str, Any], labels: Any, weights: Any, learning_rate: Any) -> Any:
        self.traces["train"] += 1  # Python: runs while tracing only
        optimizer = self.optimizer
        optimizer.learning_rate.assign(learning_rate)
        scaling = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            logits = self._forward(inputs, training=True)
            loss = self._loss(logits, labels, weights)
            scaled = optimizer.get_scaled_loss(loss) if scaling else loss
        grads = tape.gradient(scaled, self.variables)
        if scaling:
            grads = optimizer.get_unscaled_gradients(grads)
        # Embedding gradients come as IndexedSlices with repeated rows; dense ones make the
        # global norm and Adam's second moment exactly PyTorch's (repeats summed first).
        grads = [tf.convert_to_tensor(g) for g in grads]
        grads, _ = tf.clip_by_global_norm(grads, self.spec.optimizer.max_grad_norm)
        optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return loss

    def _grads_body(self, inputs: dict[str, Any], labels: Any, weights: Any, learning_rate: Any,
                    total: Any) -> Any:
        """One micro-batch's loss over ``total`` and its (unscaled, dense) gradients; no update."""
        self.traces["train"] += 1
        return self._loss_grads(inputs, labels, weights, total)

    def _apply_body(self, grads: Any, learning_rate: Any) -> Any:
        self.traces["train"] += 1
        self.optimizer.learning_rate.assign(learning_rate)
        grads, _ = tf.clip_by_global_norm(grads, self.spec.optimizer.max_grad_norm)
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return tf.constant(0.0)

    # -- tf.distribute: every replica of every worker, TensorFlow's collectives ----------------------
    def _part(self, *tensors: Any) -> list[Any]:
        """This replica's equal part of the worker's rows (padded to a multiple of the replicas)."""
        if self.replicas == 1:
            return list(tensors)
        context = tf.distribute.get_replica_context()
        local = context.replica_id_in_sync_group % self.replicas
        rows = tf.shape(tf.nest.flatten(tensors[0])[0])[0] // self.replicas
        return [tf.nest.map_structure(lambda t: t[local * rows:(local + 1) * rows], x) for x in tensors]

    def _replica_grads(self, inputs: dict[str, Any], labels: Any, weights: Any, total: Any = None) -> Any:
        """(loss, gradients) of the mean over ``total`` real rows (None: every replica's), summed over
        every replica of every worker: the global batch's loss and its gradient, on every replica."""
        context = tf.distribute.get_replica_context()
        inputs, labels, weights = self._part(inputs, labels, weights)
        if total is None:
            total = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
        loss, grads = self._local_grads(inputs, labels, weights, total)
        return context.all_reduce(tf.distribute.ReduceOp.SUM, [loss, *grads])

    def _loss_grads(self, inputs: dict[str, Any], labels: Any, weights: Any, total: Any) -> Any:
        """The loss of these rows (their sum over ``total``) and its dense, unscaled gradients: one
        micro-batch's, or one replica's share of the global batch's."""
        optimizer = self.optimizer
        scaling = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            logits = self._forward(inputs, training=True)
            loss = self._loss(logits, labels, weights, total)
            scaled = optimizer.get_scaled_loss(loss) if scaling else loss
        grads = tape.gradient(scaled, self.variables)
        if scaling:
            grads = optimizer.get_unscaled_gradients(grads)
        return loss, [tf.convert_to_tensor(g) for g in grads]

    def _replica_logits(self, inputs: dict[str, Any]) -> Any:
        return tf.cast(self._forward(inputs, training=False), tf.float32)

    def _replica_apply(self, grads: list[Any]) -> None:
        """Clip the summed gradients by their global norm and update: the same on every replica."""
        grads, _ = tf.clip_by_global_norm(grads, self.spec.optimizer.max_grad_norm)
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True), skip_gradients_aggregation=True)

    def _local(self, value: Any) -> Any:
        """A value every replica holds alike (all-reduced), from this worker's first replica."""
        return self.strategy.experimental_local_results(value)[0]

    def _distributed_train(self, inputs: dict[str, Any], labels: Any, weights: Any, learning_rate: Any) -> Any:
        self.traces["train"] += 1
        self.optimizer.learning_rate.assign(learning_rate)  # cross-replica: on every replica

        def replica(inputs: dict[str, Any], labels: Any, weights: Any) -> Any:
            loss, *grads = self._replica_grads(inputs, labels, weights)
            self._replica_apply(grads)
            return loss

        return self._local(self.strategy.run(replica, args=(inputs, labels, weights)))

    def _distributed_grads(self, inputs: dict[str, Any], labels: Any, weights: Any, learning_rate: Any,
                           total: Any) -> Any:
        self.traces["train"] += 1
        loss, *grads = [self._local(value) for value in
                        self.strategy.run(self._replica_grads, args=(inputs, labels, weights, total))]
        return loss, grads  # as _grads_body returns them

    def _distributed_apply(self, grads: Any, learning_rate: Any) -> Any:
        self.traces["train"] += 1
        self.optimizer.learning_rate.assign(learning_rate)
        self.strategy.run(self._replica_apply, args=(grads,))
        return tf.constant(0.0)

    def _distributed_predict(self, inputs: dict[str, Any]) -> Any:
        self.traces["predict"] += 1

        def replica(inputs: dict[str, Any]) -> Any:
            (part,) = self._part(inputs)
            return self._local_logits(part)

        return tf.concat(self.strategy.experimental_local_results(self.strategy.run(replica, args=(inputs,))), 0)

    def _all_reduce(self, value: float) -> float:
        """``value`` summed over the workers (this worker's first replica contributes it, the others 0)."""
        def replica() -> Any:
            context = tf.distribute.get_replica_context()
            mine = tf.where(context.replica_id_in_sync_group % self.replicas == 0, value, 0.0)
            return context.all_reduce(tf.distribute.ReduceOp.SUM, mine)

        return float(self._local(self.strategy.run(replica)))

    def train_micro_batches(self, batches: list[Batch], learning_rate: float) -> float:
        """The joined batch's update, one micro-batch in memory at a time: each micro-batch's gradients
        (with a strategy: summed over the replicas, the loss over every worker's rows), added up here,
        then one update."""
        with peers_checked() if self.strategy is not None else nullcontext():
            rows = sum(float(b.weights.sum()) for b in batches)
            total = tf.constant(self._all_reduce(rows) if self.strategy is not None else rows, tf.float32)
            rate = tf.constant(learning_rate, tf.float32)
            summed: list[Any] | None = None
            loss = 0.0
            for batch in batches:
                part, grads = self._grads(*self._tensors(batch), rate, total)
                summed = list(grads) if summed is None else [a + g for a, g in zip(summed, grads, strict=True)]
                loss += float(part)
            self._apply(summed, rate)
            return loss

    def _predict_body(self, inputs: dict[str, Any]) -> Any:
        self.traces["predict"] += 1
        return tf.cast(self._forward(inputs, training=False), tf.float32)

    def _inputs(self, batch: Batch) -> dict[str, Any]:
        return {name: tf.constant(a) for name, a in self.model_inputs(batch).items()}

    def _tensors(self, batch: Batch) -> tuple[dict[str, Any], Any, Any]:
        """(inputs, targets, weights) of a training batch, its rows a multiple of the replicas."""
        *arrays, targets, weights = pad_rows(
            [*self.model_inputs(batch).values(), batch_targets(batch, self.spec), batch.weights], self.replicas
        )
        inputs = {name: tf.constant(a) for name, a in zip(self.spec.inputs, arrays, strict=True)}
        return inputs, tf.constant(targets), tf.constant(weights)

    def _logits(self, batch: Batch) -> Any:
        """The model's own logits, in its compute precision (eager; for checks)."""
        return self._forward(self._inputs(batch), training=False)

    def train_step(self, batch: Batch, learning_rate: float) -> float:
        with peers_checked():
            return float(self._train(*self._tensors(batch), tf.constant(learning_rate, tf.float32)))

    def predict(self, batch: Batch) -> np.ndarray:
        rows = batch.input_ids.shape[0]
        arrays = pad_rows(list(self.model_inputs(batch).values()), self.replicas)
        inputs = {name: tf.constant(a) for name, a in zip(self.spec.inputs, arrays, strict=True)}
        return np.asarray(self._predict(inputs), dtype=np.float32)[:rows]

    def model_config(self) -> Any:
        return self.model.config

    def architecture(self) -> str:
        return type(self.model).__name__.removeprefix("TF")

    def weights(self) -> dict[str, np.ndarray]:
        """PyTorch names and layouts: TF's own ``save_pretrained`` writes TF names (format "tf"),
        which PyTorch can load only with TensorFlow installed."""
        tensors = {}
        for variable in self.model.weights:
            name, transpose = self.pt_names[id(variable)]
            value = variable.numpy()
            tensors[name] = value.T if transpose else value
        return tensors

    def _state_name(self, variable: Any) -> str:
        # Variable names start with the model's scope, which gets a suffix (_1, _2) when a
        # process builds several models: name the state without it.
        return variable.name.replace(self.model.name + "/", "model/").removesuffix(":0")

    def _state_variables(self) -> dict[str, Any]:
        found = {f"optimizer/{self._state_name(v)}": v for v in self.optimizer.variables}
        found.update({f"rng/dropout/{i}": g.state for i, g in enumerate(self.generators)})
        return found

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(v.numpy()) for name, v in self._state_variables().items()}

    def restore_state(self, arrays: dict[str, np.ndarray]) -> None:
        for name, variable in self._state_variables().items():
            variable.assign(arrays[name])

    def compile_count(self) -> int:
        return self.traces["train"] + self.traces["predict"]
