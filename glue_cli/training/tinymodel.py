"""Tiny random models of every supported family, with their tokenizers, made locally with numpy,
for fast tests (glue-cli's own, a plugin's, and the backend conformance suite).

The weights are written in PyTorch's safetensors naming, the layout of the bundled MiniLM,
so every backend loads them the same way it loads the real model, with no framework needed
to make them (the tf and flax test sessions have no torch). Each family gets its own kind of
tokenizer: word pieces (BERT, DistilBERT, ELECTRA), byte-level BPE (RoBERTa), a SentencePiece-style
unigram model (ALBERT), so the families differ in their inputs as the real ones do.
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


FAMILIES = ("bert", "roberta", "distilbert", "albert", "electra")
HIDDEN, LAYERS, HEADS, INTERMEDIATE, EMBEDDING = 32, 2, 2, 37, 16

Weights = dict[str, np.ndarray]


class Maker:
    """Random arrays in PyTorch's layouts (``[out, in]`` matrices), from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape: int) -> np.ndarray:
        return self.rng.normal(0, 0.02, shape).astype(np.float32)

    def dense(self, name: str, rows: int, cols: int) -> Weights:
        return {f"{name}.weight": self.normal(rows, cols), f"{name}.bias": np.zeros(rows, np.float32)}

    def norm(self, name: str, width: int = HIDDEN) -> Weights:
        return {f"{name}.weight": np.ones(width, np.float32), f"{name}.bias": np.zeros(width, np.float32)}

    def embeddings(self, config: dict[str, Any], width: int, types: bool = True) -> Weights:
        w = {
            "embeddings.word_embeddings.weight": self.normal(config["vocab_size"], width),
            "embeddings.position_embeddings.weight": self.normal(config["max_position_embeddings"], width),
            **self.norm("embeddings.LayerNorm", width),
        }
        if types:
            w["embeddings.token_type_embeddings.weight"] = self.normal(config["type_vocab_size"], width)
        return w

    def bert_layers(self, prefix: str = "encoder.layer") -> Weights:
        w: Weights = {}
        for n in range(LAYERS):
            p = f"{prefix}.{n}"
            for part in ("query", "key", "value"):
                w.update(self.dense(f"{p}.attention.self.{part}", HIDDEN, HIDDEN))
            w.update(self.dense(f"{p}.attention.output.dense", HIDDEN, HIDDEN))
            w.update(self.norm(f"{p}.attention.output.LayerNorm"))
            w.update(self.dense(f"{p}.intermediate.dense", INTERMEDIATE, HIDDEN))
            w.update(self.dense(f"{p}.output.dense", HIDDEN, INTERMEDIATE))
            w.update(self.norm(f"{p}.output.LayerNorm"))
        return w


def bert_weights(config: dict[str, Any], rng: Maker) -> Weights:
    # The pooler is drawn before the layers: the weights tests were written against stay the same.
    return {**rng.embeddings(config, HIDDEN), **rng.dense("pooler.dense", HIDDEN, HIDDEN), **rng.bert_layers()}


def roberta_weights(config: dict[str, Any], rng: Maker) -> Weights:
    # RobertaForSequenceClassification has no pooler: its head reads the <s> token itself.
    return {**rng.embeddings(config, HIDDEN), **rng.bert_layers()}


def electra_weights(config: dict[str, Any], rng: Maker) -> Weights:
    return {**rng.embeddings(config, EMBEDDING), **rng.dense("embeddings_project", HIDDEN, EMBEDDING),
            **rng.bert_layers()}


def distilbert_weights(config: dict[str, Any], rng: Maker) -> Weights:
    w = rng.embeddings(config, HIDDEN, types=False)
    for n in range(LAYERS):
        p = f"transformer.layer.{n}"
        for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
            w.update(rng.dense(f"{p}.attention.{part}", HIDDEN, HIDDEN))
        w.update(rng.norm(f"{p}.sa_layer_norm"))
        w.update(rng.dense(f"{p}.ffn.lin1", INTERMEDIATE, HIDDEN))
        w.update(rng.dense(f"{p}.ffn.lin2", HIDDEN, INTERMEDIATE))
        w.update(rng.norm(f"{p}.output_layer_norm"))
    return w


def albert_weights(config: dict[str, Any], rng: Maker) -> Weights:
    # One shared layer (ALBERT's parameter sharing), applied num_hidden_layers times.
    p = "encoder.albert_layer_groups.0.albert_layers.0"
    w = {**rng.embeddings(config, EMBEDDING), **rng.dense("encoder.embedding_hidden_mapping_in", HIDDEN, EMBEDDING)}
    for part in ("query", "key", "value", "dense"):
        w.update(rng.dense(f"{p}.attention.{part}", HIDDEN, HIDDEN))
    w.update(rng.norm(f"{p}.attention.LayerNorm"))
    w.update(rng.dense(f"{p}.ffn", INTERMEDIATE, HIDDEN))
    w.update(rng.dense(f"{p}.ffn_output", HIDDEN, INTERMEDIATE))
    w.update(rng.norm(f"{p}.full_layer_layer_norm"))
    w.update(rng.dense("pooler", HIDDEN, HIDDEN))
    return w


def family_config(family: str, vocab_size: int, dropout: float) -> dict[str, Any]:
    """The config.json of a tiny random ``family`` model (base model, PyTorch class name)."""
    bert_like = {
        "vocab_size": vocab_size, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE, "hidden_act": "gelu",
        "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0,
    }
    if family == "bert":
        return {"architectures": ["BertModel"], "model_type": "bert", **bert_like}
    if family == "electra":
        return {"architectures": ["ElectraModel"], "model_type": "electra", **bert_like,
                "embedding_size": EMBEDDING}
    if family == "roberta":
        # Positions start after the padding index: 512 usable positions need 514 rows.
        return {"architectures": ["RobertaModel"], "model_type": "roberta", **bert_like,
                "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-5,
                "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}
    if family == "albert":
        return {"architectures": ["AlbertModel"], "model_type": "albert", **bert_like,
                "embedding_size": EMBEDDING, "num_hidden_groups": 1, "inner_group_num": 1,
                "classifier_dropout_prob": dropout, "hidden_act": "gelu_new",
                "bos_token_id": 2, "eos_token_id": 3}
    if family == "distilbert":
        return {"architectures": ["DistilBertModel"], "model_type": "distilbert", "vocab_size": vocab_size,
                "dim": HIDDEN, "n_layers": LAYERS, "n_heads": HEADS, "hidden_dim": INTERMEDIATE,
                "activation": "gelu", "dropout": dropout, "attention_dropout": dropout,
                "seq_classif_dropout": dropout, "max_position_embeddings": 512,
                "sinusoidal_pos_embds": False, "initializer_range": 0.02, "pad_token_id": 0}
    raise ValueError(f"unknown model family {family!r}: one of {', '.join(FAMILIES)}")


WEIGHTS = {"bert": bert_weights, "roberta": roberta_weights, "electra": electra_weights,
           "distilbert": distilbert_weights, "albert": albert_weights}


def write_wordpiece(path: Path, tokenizer_class: str) -> int:
    vocab = vocabulary()
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": tokenizer_class, "do_lower_case": True, "model_max_length": 512,
    }))
    (path / "special_tokens_map.json").write_text(json.dumps({
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
        "sep_token": "[SEP]", "mask_token": "[MASK]",
    }))
    return len(vocab)


def byte_alphabet() -> list[str]:
    """GPT-2's byte-to-character table (what byte-level BPE vocabularies are written in), in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_byte_bpe(path: Path) -> int:
    """RoBERTa's kind of tokenizer: byte-level BPE, every word of WORDS one token (with and without a space)."""
    vocab = ["<s>", "<pad>", "</s>", "<unk>", *byte_alphabet()]
    merges: list[str] = []
    for word in WORDS:
        for spelled in (word, "Ġ" + word):
            for k in range(2, len(spelled) + 1):
                merge = f"{spelled[:k - 1]} {spelled[k - 1]}"
                if spelled[:k] not in vocab:
                    vocab.append(spelled[:k])
                    merges.append(merge)
    vocab.append("<mask>")
    (path / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "RobertaTokenizer", "model_max_length": 512, "add_prefix_space": False,
    }))
    (path / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>",
    }))
    return len(vocab)


def write_unigram(path: Path) -> int:
    """ALBERT's kind of tokenizer: a SentencePiece-style unigram model, as a fast tokenizer.json."""
    from tokenizers import (  # type: ignore[import-untyped]
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = [(t, 0.0) for t in specials] + [("▁", -2.0)]
    pieces += [("▁" + w, -3.0) for w in sorted(set(WORDS))] + [(c, -5.0) for c in chars]
    model = models.Unigram(pieces, unk_id=1, byte_fallback=False)
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace("``", '"')])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tokenizer.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "model_max_length": 512,
    }))
    (path / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
        "cls_token": "[CLS]", "pad_token": "<pad>", "mask_token": "[MASK]",
    }))
    return len(pieces)


def write_tokenizer(path: Path, family: str) -> int:
    """The family's kind of tokenizer in ``path``; its vocabulary size."""
    if family == "roberta":
        return write_byte_bpe(path)
    if family == "albert":
        return write_unigram(path)
    names = {"bert": "BertTokenizer", "electra": "ElectraTokenizer", "distilbert": "DistilBertTokenizer"}
    return write_wordpiece(path, names[family])


def make_tiny_model(path: Path, family: str = "bert", seed: int = 0, dropout: float = 0.1) -> Path:
    """Write config.json, model.safetensors and the family's tokenizer into ``path``."""
    if family not in WEIGHTS:
        raise ValueError(f"unknown model family {family!r}: one of {', '.join(FAMILIES)}")
    path.mkdir(parents=True, exist_ok=True)
    config = family_config(family, write_tokenizer(path, family), dropout)
    (path / "config.json").write_text(json.dumps(config, indent=2))
    save_file(WEIGHTS[family](config, Maker(seed)), str(path / "model.safetensors"), metadata={"format": "pt"})
    return path


def make_tiny_bert(path: Path, seed: int = 0, dropout: float = 0.1) -> Path:
    """Write config.json, model.safetensors and a BERT tokenizer into ``path``."""
    return make_tiny_model(path, "bert", seed, dropout)
