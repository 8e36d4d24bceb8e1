"""glue train / glue eval with the torch backend, on a tiny random BERT and real MRPC rows.

Resume and forced bf16, alike on every backend, are in test_every_backend.py."""

import json

import pytest

from helpers import FAST, FIRST_TOKEN_FAMILIES, first_token_case, glue, ok

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


def train(tmp_path, model, *extra):
    return ok("train", "mrpc", "--backend", "torch", "--model", model, "--output-dir",
              tmp_path / "run", *FAST, *extra)


def test_train_writes_the_run_directory_and_json(fast_run):
    result, run = fast_run("torch", 2)
    summary = result.json()  # stdout holds the metrics JSON and nothing else
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


def test_saved_model_loads_in_transformers_and_eval_reproduces_metrics(fast_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result, run = fast_run("torch", 1)
    summary = result.json()
    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    assert model.config.id2label == {0: "0", 1: "1"}
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    assert tokenizer("a b")["input_ids"][0] == tokenizer.cls_token_id
    evaluated = ok("eval", "mrpc", "--model", run, "--backend", "torch",
                   "--max-eval-samples", "40", "--json").json()
    for name, value in summary["eval"]["validation"].items():
        assert evaluated["validation"][name] == pytest.approx(value, abs=1e-6)


def test_same_seed_same_result_other_seed_differs(tmp_path, tiny_model, fast_run):
    first, run_a = fast_run("torch", 1)
    a = first.json()
    b = train(tmp_path / "b", tiny_model, "--epochs", "1", "--json").json()
    c = train(tmp_path / "c", tiny_model, "--epochs", "1", "--json", "--seed", "7").json()
    hist = [json.loads(x) for x in (run_a / "history.jsonl").read_text().splitlines()]
    hist_b = [json.loads(x) for x in (tmp_path / "b/run/history.jsonl").read_text().splitlines()]
    hist_c = [json.loads(x) for x in (tmp_path / "c/run/history.jsonl").read_text().splitlines()]
    loss = [h["loss"] for h in hist if h["event"] == "step"]
    assert loss == [h["loss"] for h in hist_b if h["event"] == "step"]
    assert loss != [h["loss"] for h in hist_c if h["event"] == "step"]
    assert a["eval"] == b["eval"]
    assert c["train"]["steps"] == a["train"]["steps"]


def test_eager_cpu_batches_are_padded_to_their_longest_row_not_128(tmp_path, tiny_model, real_glue):
    """Eager torch runs any shape at no cost: no length buckets on a CPU (multiples of 8 on CUDA)."""
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
        TorchBackend.create = lambda self, spec: Spy(original(self, spec))
        train(tmp_path, tiny_model, "--epochs", "1", "--max-seq-length", "512")
    finally:
        TorchBackend.create = original
    assert len(seen) == 3
    assert all(padded == longest for padded, longest in seen)
    assert TorchBackend().padding(False, "cuda:0").multiple == 8


def test_xla_compiles_once_per_shape_and_mode_counts_it_and_matches_eager(tmp_path):
    import numpy as np

    from glue_cli.api import Batch, ModelSpec, make_tiny_bert
    from glue_plugins.torch_backend.engine import TorchEngine

    model = make_tiny_bert(tmp_path / "tiny", dropout=0.0)  # compiled dropout draws other masks

    def batch(length):
        rng = np.random.default_rng(length)
        ids = rng.integers(5, 60, (4, length)).astype(np.int32)
        ids[:, 0], ids[:, -1] = 2, 3
        return Batch(ids, np.ones_like(ids), np.zeros_like(ids), np.arange(4) % 2, np.arange(4))

    def engine(xla):
        return TorchEngine(ModelSpec(path=str(model), num_labels=2, regression=False,
                                     id2label={0: "0", 1: "1"}, xla=xla, seed=3), "cpu")

    compiled, eager = engine(True), engine(False)
    assert eager.compile_count() == compiled.compile_count() == 0
    short, long = batch(16), batch(24)
    losses = [compiled.train_step(short, 1e-3)]
    once = compiled.compile_count()
    assert once >= 1
    losses.append(compiled.train_step(short, 1e-3))
    assert compiled.compile_count() == once  # the same shape: no new compile
    losses.append(compiled.train_step(long, 1e-3))
    trained = compiled.compile_count()
    assert trained > once
    logits = compiled.predict(long)
    np.testing.assert_allclose(compiled.predict(long), logits)
    assert trained < compiled.compile_count() <= 2 * trained  # eval mode: its own graph, once
    expected = [eager.train_step(b, 1e-3) for b in (short, short, long)]
    np.testing.assert_allclose(losses, expected, rtol=1e-4)
    np.testing.assert_allclose(logits, eager.predict(long), rtol=1e-4, atol=1e-5)


def test_xla_on_a_cpu_says_in_one_line_why_it_is_off_and_runs_eager_torch(tmp_path, tiny_model, real_glue,
                                                                           monkeypatch):
    """torch.compile is slower than eager torch on a CPU (measured): --xla says so and trains eagerly,
    with the eager padding; the variable forces it; on a GPU the flag compiles."""
    from glue_cli.api import COMPILED_PADDING
    from glue_cli.training.backends import batch_padding, compiles
    from glue_plugins.torch_backend.backend import COMPILE_ON_CPU, TorchBackend

    monkeypatch.delenv(COMPILE_ON_CPU, raising=False)
    made = []
    original = TorchBackend.create
    monkeypatch.setattr(TorchBackend, "create", lambda self, spec: made.append(original(self, spec)) or made[-1])
    result = train(tmp_path, tiny_model, "--epochs", "1", "--xla", "-q")
    note = TorchBackend().xla_note("cpu")
    assert note and "off on a CPU" in note and COMPILE_ON_CPU in note
    assert result.stderr.strip() == f"warning: --xla: {note}"
    assert made[0].spec.xla is False and made[0].compiled is None and made[0].compile_count() == 0
    assert not TorchBackend().xla_runs("cpu") and not compiles(TorchBackend(), True, "cpu")
    if TorchBackend().devices()[0] == "cpu":  # the core pads --xla's batches for the eager engine it builds
        assert batch_padding(TorchBackend(), True) == batch_padding(TorchBackend(), False)
    assert TorchBackend().xla_note("cuda:0") is None and compiles(TorchBackend(), True, "cuda:0")
    assert TorchBackend().padding(True, "cuda:0") == COMPILED_PADDING
    row = next(r for r in ok("backends", "--json").json() if r["name"] == "torch")
    assert row["xla"] == note
    monkeypatch.setenv(COMPILE_ON_CPU, "1")
    assert TorchBackend().xla_note("cpu") is None and compiles(TorchBackend(), True, "cpu")


def test_amp_chooses_a_precision_the_device_runs_fast(tmp_path, tiny_model, real_glue):
    from glue_cli.api import cpu_has_native_bf16
    from glue_plugins.torch_backend.backend import TorchBackend

    expected = TorchBackend().amp_precision("cpu")
    train(tmp_path, tiny_model, "--epochs", "1", "--amp", "-q")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["precision"] == expected
    # The core's cpuinfo check decides, not PyTorch's (which says yes on AVX-512 CPUs that emulate bf16).
    assert expected == ("bf16" if cpu_has_native_bf16() else "fp32")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("glue_plugins.torch_backend.backend.cpu_has_native_bf16", lambda: False)
        assert TorchBackend().amp_precision("cpu") == "fp32"
        patch.setattr("glue_plugins.torch_backend.backend.cpu_has_native_bf16", lambda: True)
        assert TorchBackend().amp_precision("cpu") == "bf16"


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


@pytest.mark.parametrize("family", ["bert", "roberta", "electra", "distilbert", "albert"])
def test_the_last_layer_computes_only_the_first_token_with_the_same_logits_and_gradients(tmp_path, family):
    import numpy as np
    from transformers import AutoModelForSequenceClassification

    from glue_plugins.torch_backend.engine import TorchEngine

    spec, batch = first_token_case(tmp_path, family)
    engine = TorchEngine(spec, "cpu")
    plain = AutoModelForSequenceClassification.from_pretrained(spec.path, num_labels=2)
    plain.load_state_dict(engine.model.state_dict())  # the same freshly initialised head
    tensors = {k: torch.from_numpy(v).long() for k, v in engine.model_inputs(batch).items()}

    fed: list[tuple[int, ...]] = []  # what the last layer's feed-forward block is given
    last_ffn = [m for name, m in engine.model.named_modules() if name.endswith(("intermediate.dense", "ffn.lin1",
                                                                                "ffn"))][-1]
    last_ffn.register_forward_hook(lambda module, args, out: fed.append(tuple(args[0].shape)))
    engine._loss(engine._logits(batch, engine.model), batch).backward()
    engine._loss(plain(**tensors).logits, batch).backward()

    skips = family in FIRST_TOKEN_FAMILIES
    assert engine.first_token_last is skips
    assert fed[-1][1] == (1 if skips else 20)
    np.testing.assert_allclose(engine.predict(batch), plain.eval()(**tensors).logits.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    grads = dict(plain.named_parameters())
    for name, param in engine.model.named_parameters():
        np.testing.assert_allclose(param.grad.numpy(), grads[name].grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)
