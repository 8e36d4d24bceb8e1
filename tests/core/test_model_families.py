"""Which inputs a model family takes, and where a model comes from (a folder, a hub id at a revision),
decided in the core without any framework: the engines only pass what ``ModelSpec.inputs`` names."""

import pytest

from glue_cli.errors import ModelError
from glue_cli.training.models import family_inputs, fetch_model, load_tokenizer
from glue_cli.training.tinymodel import FAMILIES, make_tiny_model
from helpers import cached_hub_model

WITH_TYPES = ("input_ids", "attention_mask", "token_type_ids")
WITHOUT_TYPES = ("input_ids", "attention_mask")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {family: make_tiny_model(root / family, family) for family in FAMILIES}


def test_each_family_gets_the_inputs_its_model_takes(models):
    expected = {"bert": WITH_TYPES, "albert": WITH_TYPES, "electra": WITH_TYPES,
                "roberta": WITHOUT_TYPES, "distilbert": WITHOUT_TYPES}
    for family, path in models.items():
        assert family_inputs(load_tokenizer(str(path)), str(path)) == expected[family], family


def test_a_tokenizer_of_another_family_never_feeds_an_input_the_model_lacks(models):
    bert_tokenizer = load_tokenizer(str(models["bert"]))
    assert family_inputs(bert_tokenizer, str(models["distilbert"])) == WITHOUT_TYPES  # no token type embeddings
    assert family_inputs(load_tokenizer(str(models["roberta"])), str(models["bert"])) == WITHOUT_TYPES
    assert family_inputs(load_tokenizer(str(models["albert"])), str(models["electra"])) == WITH_TYPES


def test_tiny_models_differ_by_seed_and_refuse_an_unknown_family(tmp_path):
    from safetensors.numpy import load_file

    one = load_file(str(make_tiny_model(tmp_path / "a", "electra", seed=0) / "model.safetensors"))
    two = load_file(str(make_tiny_model(tmp_path / "b", "electra", seed=1) / "model.safetensors"))
    assert one.keys() == two.keys()
    assert (one["embeddings_project.weight"] != two["embeddings_project.weight"]).any()
    with pytest.raises(ValueError, match="unknown model family 'gpt2'"):
        make_tiny_model(tmp_path / "c", "gpt2")


def test_a_hub_id_is_its_cached_snapshot_at_the_revision(models, tmp_path, monkeypatch):
    from huggingface_hub import constants

    main, tagged = "1" * 40, "2" * 40
    repo = cached_hub_model(tmp_path / "hub", "acme/tiny", {"main": (main, models["bert"]),
                                                           "v2": (tagged, models["roberta"])})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert fetch_model("acme/tiny") == str(repo / "snapshots" / main)
    assert fetch_model("acme/tiny", "v2") == str(repo / "snapshots" / tagged)
    assert fetch_model("acme/tiny", tagged) == str(repo / "snapshots" / tagged)  # a commit id
    assert fetch_model(str(models["albert"]), "v2") == str(models["albert"])  # a folder has no revisions
    with pytest.raises(ModelError, match=r"'acme/tiny' at revision 'v3' is not a local folder, the hub is "
                                         r"offline \(HF_HUB_OFFLINE=1\) and it is not in the Hugging Face cache"):
        fetch_model("acme/tiny", "v3")
    with pytest.raises(ModelError, match="--tokenizer"):
        fetch_model("acme/other", option="--tokenizer", weights=False)


def test_every_family_is_made_and_tokenizes_without_torch(tmp_path):
    """The tf and flax sessions have no torch: the tiny models and their tokenizers must not need it."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
        "from pathlib import Path\n"
        "from glue_cli.training.models import family_inputs, load_tokenizer\n"
        "from glue_cli.training.tinymodel import FAMILIES, make_tiny_model\n"
        "for family in FAMILIES:\n"
        f"    path = str(make_tiny_model(Path({str(tmp_path)!r}) / family, family))\n"
        "    tokenizer = load_tokenizer(path)\n"
        "    assert tokenizer('the film', 'a dog')['input_ids'], family\n"
        "    print(family, len(family_inputs(tokenizer, path)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bert", "3", "roberta", "2", "distilbert", "2", "albert", "3", "electra", "3"]
