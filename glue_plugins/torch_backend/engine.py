"""The PyTorch engine: a transformers model, AdamW, autocast, one optimizer step at a time."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from glue_cli.api import Batch, ModelError, ModelSpec, decays

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_model(spec: ModelSpec) -> Any:
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    if not spec.verbose:
        logging.set_verbosity_error()  # "newly initialized head" is expected when fine-tuning
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            spec.path,
            num_labels=spec.num_labels,
            id2label=spec.id2label,
            label2id={label: i for i, label in spec.id2label.items()},
            problem_type="regression" if spec.regression else "single_label_classification",
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"Cannot load model {spec.path!r} with PyTorch: {str(exc).splitlines()[0]}",
            "Pass --model with a folder holding config.json and weights.",
        ) from None


class TorchEngine:
    def __init__(self, spec: ModelSpec, total_steps: int, default_device: str) -> None:
        torch.manual_seed(spec.seed)
        self.spec = spec
        self.device = torch.device(spec.device or default_device)
        self.model = load_model(spec).to(self.device)
        self.forward = torch.compile(self.model) if spec.xla else self.model
        self.dtype = DTYPES[spec.precision]
        if spec.precision == "fp16" and self.device.type == "cpu":
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
        )

    def _autocast(self) -> Any:
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _logits(self, batch: Batch) -> torch.Tensor:
        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a).long().to(self.device, non_blocking=True)

        with self._autocast():
            return self.forward(
                input_ids=tensor(batch.input_ids),
                attention_mask=tensor(batch.attention_mask),
                token_type_ids=tensor(batch.token_type_ids),
            ).logits

    def _loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        assert batch.labels is not None
        labels = torch.from_numpy(batch.labels).to(self.device)
        weights = torch.from_numpy(batch.weights).to(self.device)
        logits = logits.float()
        if self.spec.regression:
            per_example = torch.nn.functional.mse_loss(logits[:, 0], labels.float(), reduction="none")
        else:
            per_example = torch.nn.functional.cross_entropy(logits, labels.long(), reduction="none")
        return (per_example * weights).sum() / weights.sum()

    def train_step(self, batch: Batch, learning_rate: float) -> float:
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        loss = self._loss(self._logits(batch), batch)
        params = self.model.parameters()
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.spec.optimizer.max_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, self.spec.optimizer.max_grad_norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    @torch.inference_mode()
    def predict(self, batch: Batch) -> np.ndarray:
        self.model.eval()
        return self._logits(batch).float().cpu().numpy()

    def save_model(self, path: Path) -> None:
        self.model.save_pretrained(str(path), safe_serialization=True)

    def save_state(self, path: Path) -> None:
        tensors: dict[str, torch.Tensor] = {"rng/cpu": torch.get_rng_state()}
        for param, state in self.optimizer.state.items():
            name = self.names[id(param)]
            for key, value in state.items():
                tensors[f"{name}/{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        save_file(tensors, str(path / "optimizer.safetensors"))
        extra = {"scaler": self.scaler.state_dict() if self.scaler is not None else None}
        (path / "torch_state.json").write_text(json.dumps(extra), encoding="utf-8")

    def load_state(self, path: Path) -> None:
        tensors = load_file(str(path / "optimizer.safetensors"))
        torch.set_rng_state(tensors.pop("rng/cpu"))
        by_name = dict(self.model.named_parameters())
        for key, value in tensors.items():
            name, field = key.rsplit("/", 1)
            param = by_name[name]
            self.optimizer.state[param][field] = value.to(param.device if field != "step" else "cpu")
        extra = json.loads((path / "torch_state.json").read_text(encoding="utf-8"))
        if self.scaler is not None and extra.get("scaler"):
            self.scaler.load_state_dict(extra["scaler"])

    def compile_count(self) -> int:
        return 0
