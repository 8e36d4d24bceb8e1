"""Every model family on every backend: BERT, RoBERTa, DistilBERT, ALBERT, ELECTRA, as tiny random
models made with numpy (no torch needed), trained and evaluated through the CLI; a model saved by one
backend gives another the same logits; hub ids, --revision and --tokenizer on every backend.

Each backend's nox session runs its own cases (the tests are parametrized over ``backend``); the
save/load ring needs all three frameworks and runs in the ``cross`` session."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from glue_cli.data.batching import Batch
from glue_cli.training.backends import ModelSpec
from glue_cli.training.tinymodel import FAMILIES, make_tiny_model
from helpers import (
    FRAMEWORK_MODULES,
    cached_hub_model,
    framework_installed,
    glue,
    ok,
    one_line_error,
    reset_plugins,
)

BACKENDS = list(FRAMEWORK_MODULES)
ROWS = ("--max-train-samples", "32", "--max-eval-samples", "16", "--batch-size", "16",
        "--learning-rate", "1e-3", "--epochs", "1")
CLASSES = {"bert": "Bert", "roberta": "Roberta", "distilbert": "DistilBert", "albert": "Albert",
           "electra": "Electra"}


def need(backend):
    if not framework_installed(backend):
        pytest.skip(f"the {backend} backend's framework is not installed here")


@pytest.fixture(scope="session")
def family_model(tmp_path_factory):
    """``family_model(name)``: a tiny random model of that family (and its tokenizer), made once."""
    made = {}

    def make(family):
        if family not in made:
            made[family] = make_tiny_model(tmp_path_factory.mktemp("families") / family, family)
        return made[family]

    return make


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_family_trains_and_evaluates(backend, family, family_model, tmp_path, real_glue):
    need(backend)
    model, run = family_model(family), tmp_path / "run"
    summary = ok("train", "mrpc", "--backend", backend, "--model", model, "--output-dir", run, *ROWS,
                 "--json", "-q").json()
    assert summary["train"]["steps"] == 2
    metrics = summary["eval"]["validation"]
    assert set(metrics) >= {"accuracy", "f1"} and 0 <= metrics["accuracy"] <= 1

    config = json.loads((run / "model" / "config.json").read_text())
    assert config["model_type"] == family
    assert config["architectures"] == [f"{CLASSES[family]}ForSequenceClassification"]
    before, after = load_file(str(model / "model.safetensors")), load_file(str(run / "model" / "model.safetensors"))
    word = next(n for n in after if n.endswith("embeddings.word_embeddings.weight"))
    assert not np.array_equal(after[word], before["embeddings.word_embeddings.weight"])  # it trained

    # The saved run (weights, head, tokenizer) evaluates to what training reported.
    again = ok("eval", "mrpc", "--model", run, "--backend", backend, "--max-eval-samples", "16", "--json",
               "-q").json()
    for name, value in metrics.items():
        assert again["validation"][name] == pytest.approx(value, abs=1e-6)


def family_batch(model):
    """Two sentence pairs through the family's own tokenizer, padded with its pad id."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    out = tokenizer(["the company said it was good", "a man and his dog"],
                    ["the film was boring", "she said yes"], padding=True, return_token_type_ids=True,
                    return_tensors="np")
    ids = out["input_ids"].astype(np.int32)
    return Batch(ids, out["attention_mask"].astype(np.int32), out["token_type_ids"].astype(np.int32),
                 np.array([0, 1]), np.arange(2)), tokenizer


def spec_for(path, tokenizer, model):
    from glue_cli.training.models import family_inputs

    return ModelSpec(path=str(path), num_labels=2, regression=False, id2label={0: "0", 1: "1"},
                     inputs=family_inputs(tokenizer, str(model)))


@pytest.mark.cross
@pytest.mark.torch
@pytest.mark.tf
@pytest.mark.flax
@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_saved_on_one_backend_gives_the_next_the_same_logits(family, family_model, tmp_path):
    """torch saves for tf, tf for flax, flax for torch: every backend's save and load, per family."""
    for backend in BACKENDS:
        need(backend)
    from glue_cli.plugins.manager import get_backends

    reset_plugins()
    backends = get_backends()
    model = family_model(family)
    batch, tokenizer = family_batch(model)
    for i, backend in enumerate(BACKENDS):
        engine = backends.get(backend).create(spec_for(model, tokenizer, model))
        engine.train_step(batch, 1e-2)  # move every weight, the new head's too, away from the files'
        expected = engine.predict(batch)
        engine.save_model(tmp_path / backend)
        following = BACKENDS[(i + 1) % len(BACKENDS)]
        loaded = backends.get(following).create(spec_for(tmp_path / backend, tokenizer, model))
        np.testing.assert_allclose(loaded.predict(batch), expected, atol=1e-4,
                                   err_msg=f"{family}: saved on {backend}, loaded on {following}")


# A hub repository in the Hugging Face cache, as a download leaves it: two revisions of acme/tiny.
MAIN_COMMIT, V2_COMMIT = "a" * 40, "b" * 40


@pytest.fixture
def hub_cache(tmp_path, family_model, monkeypatch):
    """acme/tiny: its main branch a BERT, its tag v2 a DistilBERT (offline, from the cache only)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return cached_hub_model(tmp_path / "hub", "acme/tiny", {"main": (MAIN_COMMIT, family_model("bert")),
                                                           "v2": (V2_COMMIT, family_model("distilbert"))})


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hub_id_at_a_revision_trains_on_every_backend(backend, hub_cache, tmp_path, real_glue):
    need(backend)
    run = tmp_path / "run"
    ok("train", "mrpc", "--backend", backend, "--model", "acme/tiny", "--revision", "v2", "--output-dir", run,
       *ROWS, "-q")
    assert json.loads((run / "model" / "config.json").read_text())["model_type"] == "distilbert"
    settings = json.loads((run / "config.json").read_text())
    assert settings["model"] == "acme/tiny" and settings["revision"] == "v2"
    # glue eval takes a hub id too (its default branch: the BERT).
    on_main = ok("eval", "mrpc", "--model", "acme/tiny", "--backend", backend, "--max-eval-samples", "16",
                 "--json", "-q").json()
    assert set(on_main["validation"]) >= {"accuracy", "f1"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hub_id_offline_and_not_cached_is_one_line(backend, tmp_path, real_glue):
    need(backend)
    for command in (("train", "mrpc", "--output-dir", tmp_path / "run"), ("eval", "mrpc")):
        line = one_line_error(glue(*command, "--backend", backend, "--model", "acme/absent", "--revision", "v1"),
                              "'acme/absent'", "revision 'v1'", "hub is offline", "--model")
        assert "not in the Hugging Face cache" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tokenizer_trains_with_another_tokenizer_folder(backend, family_model, tmp_path, real_glue):
    """--tokenizer: an ALBERT (unigram) tokenizer on the tiny BERT; the run keeps the tokenizer it used."""
    need(backend)
    run = tmp_path / "run"
    summary = ok("train", "mrpc", "--backend", backend, "--model", family_model("bert"), "--tokenizer",
                 family_model("albert"), "--output-dir", run, *ROWS, "--json", "-q").json()
    saved = json.loads((run / "model" / "tokenizer_config.json").read_text())
    assert saved["tokenizer_class"].startswith("AlbertTokenizer")
    assert (run / "model" / "tokenizer.json").is_file() and not (run / "model" / "vocab.txt").exists()
    assert json.loads((run / "model" / "config.json").read_text())["model_type"] == "bert"
    assert json.loads((run / "config.json").read_text())["tokenizer"] == str(family_model("albert"))
    # glue eval reads the run's tokenizer: the metrics training reported come back.
    again = ok("eval", "mrpc", "--model", run, "--backend", backend, "--max-eval-samples", "16", "--json",
               "-q").json()
    for name, value in summary["eval"]["validation"].items():
        assert again["validation"][name] == pytest.approx(value, abs=1e-6)
