"""A tiny random BERT and a word-piece tokenizer, made locally with numpy, for fast tests
(glue-cli's own, a plugin's, and the backend conformance suite).

The weights are written in PyTorch's safetensors naming, the layout of the bundled MiniLM,
so every backend loads them the same way it loads the real model, with no framework needed
to make them.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

WORDS = (
    "the a an of to and in is was he she it they said that for on with as by at from his her "
    "company shares percent million year new would will has have had not but be are were "
    "this which who its their about after than more been up out one two three over said "
    "good bad movie film great story plot acting fun boring sentence man woman dog cat "
    "question answer what when where why how yes no"
).split()


def vocabulary() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = [f"##{c}" for c in string.ascii_lowercase + string.digits]
    return specials + chars + pieces + sorted(set(WORDS) - set(chars))


def bert_weights(config: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    h, i = config["hidden_size"], config["intermediate_size"]

    def dense(name: str, rows: int, cols: int) -> dict[str, np.ndarray]:
        return {
            f"{name}.weight": rng.normal(0, 0.02, (rows, cols)).astype(np.float32),
            f"{name}.bias": np.zeros(rows, np.float32),
        }

    def norm(name: str) -> dict[str, np.ndarray]:
        return {f"{name}.weight": np.ones(h, np.float32), f"{name}.bias": np.zeros(h, np.float32)}

    w = {
        "embeddings.word_embeddings.weight":
            rng.normal(0, 0.02, (config["vocab_size"], h)).astype(np.float32),
        "embeddings.position_embeddings.weight":
            rng.normal(0, 0.02, (config["max_position_embeddings"], h)).astype(np.float32),
        "embeddings.token_type_embeddings.weight":
            rng.normal(0, 0.02, (config["type_vocab_size"], h)).astype(np.float32),
        **norm("embeddings.LayerNorm"),
        **dense("pooler.dense", h, h),
    }
    for n in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{n}"
        for part in ("query", "key", "value"):
            w.update(dense(f"{p}.attention.self.{part}", h, h))
        w.update(dense(f"{p}.attention.output.dense", h, h))
        w.update(norm(f"{p}.attention.output.LayerNorm"))
        w.update(dense(f"{p}.intermediate.dense", i, h))
        w.update(dense(f"{p}.output.dense", h, i))
        w.update(norm(f"{p}.output.LayerNorm"))
    return w


def make_tiny_bert(path: Path, seed: int = 0, dropout: float = 0.1) -> Path:
    """Write config.json, model.safetensors and a BERT tokenizer into ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 37,
        "hidden_act": "gelu",
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    save_file(bert_weights(config, np.random.default_rng(seed)), str(path / "model.safetensors"),
              metadata={"format": "pt"})
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
    }))
    (path / "special_tokens_map.json").write_text(json.dumps({
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
        "sep_token": "[SEP]", "mask_token": "[MASK]",
    }))
    return path
