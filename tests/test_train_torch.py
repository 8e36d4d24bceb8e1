"""glue train / glue eval with the torch backend, on a tiny random BERT and real MRPC rows."""

import json

import numpy as np
import pytest

from helpers import glue, glue_interrupted, ok

torch = pytest.importorskip("torch")

FAST = ("--max-train-samples", "48", "--max-eval-samples", "40", "--batch-size", "16",
        "--learning-rate", "1e-3")


def train(tmp_path, model, *extra):
    return ok("train", "mrpc", "--backend", "torch", "--model", model, "--output-dir",
              tmp_path / "run", *FAST, *extra)


def test_train_writes_the_run_directory_and_json(tmp_path, tiny_model, real_glue):
    result = train(tmp_path, tiny_model, "--epochs", "2", "--json")
    summary = result.json()  # stdout holds the metrics JSON and nothing else
    run = tmp_path / "run"
    assert set(summary["eval"]["validation"]) == {"f1", "accuracy", "combined_score"}
    assert json.loads((run / "metrics.json").read_text()) == summary
    assert len(summary["train"]["epoch_seconds"]) == 2 and summary["train"]["steps"] == 6
    config = json.loads((run / "config.json").read_text())
    assert config["learning_rate"] == 1e-3 and config["precision"] == "fp32"
    assert "torch" in config["versions"] and "transformers" in config["versions"]
    for name in ("config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"):
        assert (run / "model" / name).is_file()
    assert (run / "checkpoint" / "optimizer.safetensors").is_file()
    assert not list(run.rglob("*.bin")) and not list(run.rglob("*.pt"))
    kinds = [json.loads(line)["event"] for line in (run / "history.jsonl").read_text().splitlines()]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("step") == 6 and kinds.count("eval") == 2 and kinds.count("checkpoint") == 2
    assert "Results" in result.stderr and "epoch 2/2" in result.stderr


def test_saved_model_loads_in_transformers_and_eval_reproduces_metrics(tmp_path, tiny_model,
                                                                        real_glue):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    summary = train(tmp_path, tiny_model, "--epochs", "1", "--json").json()
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    assert model.config.id2label == {0: "0", 1: "1"}
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    assert tokenizer("a b")["input_ids"][0] == tokenizer.cls_token_id
    evaluated = ok("eval", "mrpc", "--model", tmp_path / "run", "--backend", "torch",
                   "--max-eval-samples", "40", "--json").json()
    for name, value in summary["eval"]["validation"].items():
        assert evaluated["validation"][name] == pytest.approx(value, abs=1e-6)


def test_same_seed_same_result_other_seed_differs(tmp_path, tiny_model, real_glue):
    a = train(tmp_path / "a", tiny_model, "--epochs", "1", "--json").json()
    b = train(tmp_path / "b", tiny_model, "--epochs", "1", "--json").json()
    c = train(tmp_path / "c", tiny_model, "--epochs", "1", "--json", "--seed", "7").json()
    hist = [json.loads(x) for x in (tmp_path / "a/run/history.jsonl").read_text().splitlines()]
    hist_b = [json.loads(x) for x in (tmp_path / "b/run/history.jsonl").read_text().splitlines()]
    hist_c = [json.loads(x) for x in (tmp_path / "c/run/history.jsonl").read_text().splitlines()]
    loss = [h["loss"] for h in hist if h["event"] == "step"]
    assert loss == [h["loss"] for h in hist_b if h["event"] == "step"]
    assert loss != [h["loss"] for h in hist_c if h["event"] == "step"]
    assert a["eval"] == b["eval"]
    assert c["train"]["steps"] == a["train"]["steps"]


def test_batches_are_padded_to_multiples_of_8_not_128(tmp_path, tiny_model, real_glue):
    seen = []

    class Spy:
        def __init__(self, engine):
            self.engine = engine

        def __getattr__(self, name):
            return getattr(self.engine, name)

        def train_step(self, batch, rate):
            seen.append((batch.input_ids.shape[1], int(batch.attention_mask.sum(1).max())))
            return self.engine.train_step(batch, rate)

    from glue_plugins.torch_backend.backend import TorchBackend

    original = TorchBackend.create
    try:
        TorchBackend.create = lambda self, spec, steps: Spy(original(self, spec, steps))
        train(tmp_path, tiny_model, "--epochs", "1", "--max-seq-length", "512")
    finally:
        TorchBackend.create = original
    assert len(seen) == 3
    for padded, longest in seen:
        assert padded % 8 == 0 and longest <= padded < longest + 8


def test_bf16_really_computes_in_bf16(tiny_model):
    from glue_cli.backends import ModelSpec
    from glue_cli.batching import Batch
    from glue_plugins.torch_backend.engine import TorchEngine

    spec = ModelSpec(str(tiny_model), 2, False, {0: "0", 1: "1"}, precision="bf16")
    engine = TorchEngine(spec, 1, "cpu")
    ids = np.array([[2, 10, 11, 3, 0, 0, 0, 0]], dtype=np.int32)
    batch = Batch(ids, (ids > 0).astype(np.int32), np.zeros_like(ids), np.array([1]),
                  np.array([0]))
    assert engine._logits(batch).dtype == torch.bfloat16
    assert engine.predict(batch).dtype == np.float32
    assert np.isfinite(engine.train_step(batch, 1e-3))


def test_amp_chooses_a_precision_the_device_runs_fast(tmp_path, tiny_model, real_glue):
    from glue_plugins.torch_backend.backend import TorchBackend

    expected = TorchBackend().amp_precision("cpu")
    train(tmp_path, tiny_model, "--epochs", "1", "--amp", "-q")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["precision"] == expected
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert expected == ("bf16" if native else "fp32")


def test_resume_continues_an_interrupted_run_exactly(tmp_path, tiny_model, real_glue):
    full = train(tmp_path / "full", tiny_model, "--epochs", "2", "--json").json()

    args = ("train", "mrpc", "--backend", "torch", "--model", tiny_model, "--output-dir",
            tmp_path / "cut" / "run", *FAST, "--epochs", "2")
    interrupted = glue_interrupted(*args)
    assert interrupted.exit_code == 130
    assert "--resume" in interrupted.stderr
    state = json.loads((tmp_path / "cut/run/checkpoint/state.json").read_text())
    assert (state["step"], state["epoch"]) == (3, 1)
    resumed = ok(*args, "--resume", "--json").json()
    assert resumed["eval"] == full["eval"]
    kinds = [json.loads(x)["event"] for x in (tmp_path / "cut/run/history.jsonl").read_text()
             .splitlines()]
    assert kinds.count("run_start") == 2 and kinds.count("step") == 6


def test_output_dir_is_never_replaced_without_overwrite(tmp_path, tiny_model, real_glue):
    train(tmp_path, tiny_model, "--epochs", "1", "-q")
    marker = tmp_path / "run" / "notes.txt"
    marker.write_text("mine")
    result = glue("train", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "run", *FAST)
    assert result.exit_code == 2 and marker.read_text() == "mine"
    assert "--overwrite" in result.stderr
    train(tmp_path, tiny_model, "--epochs", "1", "-q", "--overwrite")
    assert not marker.exists()


def test_quiet_prints_nothing(tmp_path, tiny_model, real_glue):
    result = train(tmp_path, tiny_model, "--epochs", "1", "--quiet")
    assert result.stdout == "" and result.stderr == ""
