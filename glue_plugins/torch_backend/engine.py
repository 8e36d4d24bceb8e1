"""The PyTorch engine: a transformers model, AdamW, autocast, one optimizer step at a time.

Under torchrun the training forward runs through DistributedDataParallel: each worker holds its
shard of the global batch, DDP averages the gradients over the workers during backward, and the
loss is scaled so that average is the gradient of the mean over the global batch's real rows.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from glue_cli.api import (
    Batch,
    EngineBase,
    ModelError,
    ModelSpec,
    batch_targets,
    decays,
    label_arguments,
    load_error,
    physical_cores,
    quiet_transformers,
)
from glue_plugins.torch_backend.first_token import compute_first_token_last
from glue_plugins.torch_backend.world import distributed

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_model(spec: ModelSpec) -> Any:
    from transformers import AutoModelForSequenceClassification

    quiet_transformers(spec.verbose)
    try:
        return AutoModelForSequenceClassification.from_pretrained(spec.path, **label_arguments(spec))
    except (OSError, ValueError, RuntimeError) as exc:
        raise load_error(spec, "PyTorch", exc) from None


# torch.compile gives up (and runs eager) after this many recompiles of one function by default (8);
# the core's length buckets allow max_length / 4 shapes (32 up to 128), each in train and eval mode.
RECOMPILE_LIMIT = 128


def set_threads() -> None:
    """One thread per physical core (hyper-threads share a core's vector units), unless the user
    chose with OMP_NUM_THREADS."""
    if "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() != physical_cores():
        torch.set_num_threads(physical_cores())


class Compiled:
    """``torch.compile`` of the model, one static graph per batch shape, counting what it compiles."""

    def __init__(self, model: Any) -> None:
        from torch._inductor.compile_fx import compile_fx

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        self.count = 0

        def inductor(graph: Any, example_inputs: Any) -> Any:
            self.count += 1  # runs once per graph dynamo hands over: per shape and mode
            return compile_fx(graph, example_inputs)

        self.forward = torch.compile(model, backend=inductor, dynamic=False)


class TorchEngine(EngineBase):
    def __init__(self, spec: ModelSpec, device: str) -> None:
        super().__init__(spec, device)
        set_threads()
        torch.manual_seed(spec.seed)
        self.torch_device = torch.device(device)
        self.model = load_model(spec).to(self.torch_device)
        self.first_token_last = compute_first_token_last(self.model)  # before compiling and DDP wrap it
        self.compiled = Compiled(self.model) if spec.xla else None
        self.forward = self.compiled.forward if self.compiled is not None else self.model
        self.train_forward = self.forward
        self.train_compiled: Compiled | None = None
        self.ddp = distributed()
        if self.ddp:  # DDP also broadcasts rank 0's weights, so every worker starts alike
            from torch.nn.parallel import DistributedDataParallel

            on_gpu = self.torch_device.type == "cuda"
            wrapped = DistributedDataParallel(self.model, device_ids=[self.torch_device] if on_gpu else None)
            self.train_compiled = Compiled(wrapped) if spec.xla else None
            self.train_forward = self.train_compiled.forward if self.train_compiled is not None else wrapped
        self.dtype = DTYPES[spec.precision]
        if spec.precision == "fp16" and self.torch_device.type == "cpu":
            raise ModelError("fp16 needs a CUDA GPU.", "Use --precision bf16 on a CPU.")
        self.scaler = torch.amp.GradScaler("cuda") if spec.precision == "fp16" else None
        named = list(self.model.named_parameters())
        groups = [
            {"params": [p for n, p in named if decays(n)], "weight_decay": spec.optimizer.weight_decay},
            {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0},
        ]
        self.names = {id(p): n for n, p in named}
        self.optimizer = torch.optim.AdamW(
            groups,
            lr=0.0,
            betas=(spec.optimizer.beta1, spec.optimizer.beta2),
            eps=spec.optimizer.epsilon,
            # One fused kernel for the whole update, on a CPU as on CUDA (docs/DESIGN.md, "Speed").
            fused=True,
        )

    def _autocast(self) -> Any:
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.torch_device.type, dtype=self.dtype)

    def _logits(self, batch: Batch, forward: Any = None) -> torch.Tensor:
        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a).long().to(self.torch_device, non_blocking=True)

        with self._autocast():
            model = self.forward if forward is None else forward  # a compiled module has no truth value
            return model(**{name: tensor(a) for name, a in self.model_inputs(batch).items()}).logits

    def _loss(self, logits: torch.Tensor, batch: Batch, total_weight: float | None = None) -> torch.Tensor:
        """The weighted mean loss of ``batch``; over ``total_weight`` (all micro-batches' rows) when accumulating."""
        targets = torch.from_numpy(batch_targets(batch, self.spec)).to(self.torch_device)
        weights = torch.from_numpy(batch.weights).to(self.torch_device)
        logits = logits.float()
        if self.spec.regression:
            per_example = torch.nn.functional.mse_loss(logits[:, 0], targets, reduction="none")
        elif targets.ndim == 2:  # label smoothing: soft targets
            per_example = -(targets * torch.log_softmax(logits, dim=-1)).sum(-1)
        else:
            per_example = torch.nn.functional.cross_entropy(logits, targets.long(), reduction="none")
        return (per_example * weights).sum() / (weights.sum() if total_weight is None else total_weight)

    def train_step(self, batch: Batch, learning_rate: float) -> float:
        return self._update([batch], learning_rate)

    def train_micro_batches(self, batches: list[Batch], learning_rate: float) -> float:
        return self._update(batches, learning_rate)

    def _update(self, batches: list[Batch], learning_rate: float) -> float:
        """Gradients summed over the micro-batches, each weighted by its share of the rows, then one update."""
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        local_weight = float(sum(b.weights.sum() for b in batches))
        total_weight = local_weight if len(batches) > 1 else None
        if self.ddp:
            # Real rows summed over every worker (torch's all-reduce); DDP averages the gradients over
            # the workers, so dividing each by global rows / world size leaves the global mean's gradient.
            rows = torch.tensor([local_weight], dtype=torch.float64, device=self.torch_device)
            dist.all_reduce(rows)
            total_weight = float(rows[0]) / dist.get_world_size()
        total = 0.0
        for batch in batches:
            loss = self._loss(self._logits(batch, self.train_forward), batch, total_weight)
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
            total += float(loss.detach())
        params = self.model.parameters()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.spec.optimizer.max_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            torch.nn.utils.clip_grad_norm_(params, self.spec.optimizer.max_grad_norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ddp:  # the global batch's mean loss: every worker's share, summed
            reported = torch.tensor([total], dtype=torch.float64, device=self.torch_device)
            dist.all_reduce(reported)
            return float(reported[0]) / dist.get_world_size()
        return total

    @torch.inference_mode()
    def predict(self, batch: Batch) -> np.ndarray:
        self.model.eval()
        return self._logits(batch).float().cpu().numpy()

    def model_config(self) -> Any:
        return self.model.config

    def architecture(self) -> str:
        return type(self.model).__name__

    def weights(self) -> dict[str, np.ndarray]:
        return {name: t.detach().float().cpu().numpy() for name, t in self.model.state_dict().items()}

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"rng/cpu": torch.get_rng_state().numpy()}
        for param, state in self.optimizer.state.items():
            name = self.names[id(param)]
            for key, value in state.items():
                arrays[f"{name}/{key}"] = torch.as_tensor(value).detach().cpu().numpy()
        if not self.optimizer.state:  # before the first step: the moments a resume will need
            for name, param in self.model.named_parameters():
                zeros = np.zeros(tuple(param.shape), np.float32)
                arrays.update({f"{name}/step": np.zeros((), np.float32), f"{name}/exp_avg": zeros,
                               f"{name}/exp_avg_sq": zeros})
        return arrays

    def restore_state(self, arrays: dict[str, np.ndarray]) -> None:
        torch.set_rng_state(torch.from_numpy(arrays["rng/cpu"].copy()))
        by_name = dict(self.model.named_parameters())
        for key, value in arrays.items():
            if key == "rng/cpu":
                continue
            name, field = key.rsplit("/", 1)
            param = by_name[name]
            # The fused update keeps its step counts beside the parameters.
            self.optimizer.state[param][field] = torch.from_numpy(value.copy()).to(param.device)

    def compile_count(self) -> int:
        return sum(c.count for c in (self.compiled, self.train_compiled) if c is not None)

    def state_info(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def restore_info(self, info: dict[str, Any]) -> None:
        if self.scaler is not None and info.get("scaler"):
            self.scaler.load_state_dict(info["scaler"])
