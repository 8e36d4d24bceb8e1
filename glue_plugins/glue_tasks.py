"""The nine GLUE tasks, in the GLUE-download file layout and the hub's label order."""

from __future__ import annotations

from glue_cli.api import GlueLayout, Task, hookimpl

STANDARD = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}
BINARY = ("0", "1")
ENTAILMENT = ("entailment", "not_entailment")
HUB = "nyu-mll/glue"

# The full headers of the GLUE download's files where they hold more than the columns read
# (what glue data fetch writes); the other tasks' files are index, text column(s), label.
MRPC_IDS = ("#1 ID", "#2 ID", "#1 String", "#2 String")
STSB_HEAD = ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2")
MNLI_HEAD = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
             "sentence1_parse", "sentence2_parse", "sentence1", "sentence2")
MNLI_TRAIN = (*MNLI_HEAD, "label1", "gold_label")
MNLI_DEV = (*MNLI_HEAD, "label1", "label2", "label3", "label4", "label5", "gold_label")

TASKS = (
    Task(
        name="cola", text_fields=("sentence",), labels=BINARY,
        metrics=("matthews_correlation",),
        glue=GlueLayout("CoLA", STANDARD, ("sentence",), "label",
                        columns=("source", "label", "original_label", "sentence")),
        hub_id=HUB, hub_config="cola", submission_files={"test": "CoLA.tsv"},
        description="Corpus of Linguistic Acceptability: is the sentence grammatical?",
    ),
    Task(
        name="sst2", text_fields=("sentence",), labels=BINARY, metrics=("accuracy",),
        glue=GlueLayout("SST-2", STANDARD, ("sentence",), "label",
                        headers={"train": ("sentence", "label"), "validation": ("sentence", "label")}),
        hub_id=HUB, hub_config="sst2", submission_files={"test": "SST-2.tsv"}, aliases=("sst",),
        description="Stanford Sentiment Treebank: positive or negative movie review sentence.",
    ),
    Task(
        name="mrpc", text_fields=("sentence1", "sentence2"), labels=BINARY,
        metrics=("f1", "accuracy"),
        glue=GlueLayout("MRPC", STANDARD, ("#1 String", "#2 String"), "Quality",
                        headers={"train": ("Quality", *MRPC_IDS), "validation": ("Quality", *MRPC_IDS),
                                 "test": ("index", *MRPC_IDS)},
                        byte_order_mark=("train", "validation")),
        hub_id=HUB, hub_config="mrpc", submission_files={"test": "MRPC.tsv"},
        description="Microsoft Research Paraphrase Corpus: are the two sentences paraphrases?",
    ),
    Task(
        name="stsb", text_fields=("sentence1", "sentence2"), labels=None,
        metrics=("pearson", "spearmanr"),
        glue=GlueLayout("STS-B", STANDARD, ("sentence1", "sentence2"), "score",
                        headers={"train": (*STSB_HEAD, "score"), "validation": (*STSB_HEAD, "score"),
                                 "test": STSB_HEAD}),
        hub_id=HUB, hub_config="stsb", submission_files={"test": "STS-B.tsv"}, aliases=("sts",),
        description="Semantic Textual Similarity Benchmark: similarity score 0-5 (regression).",
    ),
    Task(
        name="qqp", text_fields=("question1", "question2"), labels=BINARY,
        metrics=("accuracy", "f1"),
        glue=GlueLayout("QQP", STANDARD, ("question1", "question2"), "is_duplicate",
                        index_column="id",
                        headers={"train": ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                                 "validation": ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")}),
        hub_id=HUB, hub_config="qqp", submission_files={"test": "QQP.tsv"},
        description="Quora Question Pairs: are the two questions duplicates?",
    ),
    Task(
        name="mnli", text_fields=("premise", "hypothesis"),
        labels=("entailment", "neutral", "contradiction"), metrics=("accuracy",),
        eval_splits=("validation_matched", "validation_mismatched"),
        test_splits=("test_matched", "test_mismatched"),
        glue=GlueLayout(
            "MNLI",
            {
                "train": "train.tsv",
                "validation_matched": "dev_matched.tsv",
                "validation_mismatched": "dev_mismatched.tsv",
                "test_matched": "test_matched.tsv",
                "test_mismatched": "test_mismatched.tsv",
                # The AX diagnostic set sits beside the task folders in a GLUE download.
                "diagnostic": "../diagnostic/diagnostic.tsv",
            },
            ("sentence1", "sentence2"), "gold_label",
            headers={
                "train": MNLI_TRAIN, "validation_matched": MNLI_DEV, "validation_mismatched": MNLI_DEV,
                "test_matched": MNLI_HEAD, "test_mismatched": MNLI_HEAD,
            },
        ),
        optional_test_splits=("diagnostic",),
        hub_id=HUB, hub_config="mnli", hub_splits={"diagnostic": ("ax", "test")},
        submission_files={
            "test_matched": "MNLI-m.tsv", "test_mismatched": "MNLI-mm.tsv", "diagnostic": "AX.tsv",
        },
        aliases=("mnli-m", "mnli-mm", "mnli-matched", "mnli-mismatched", "multinli"),
        description="Multi-Genre NLI: entailment, neutral or contradiction (matched/mismatched).",
    ),
    Task(
        name="qnli", text_fields=("question", "sentence"), labels=ENTAILMENT,
        metrics=("accuracy",),
        glue=GlueLayout("QNLI", STANDARD, ("question", "sentence"), "label"),
        hub_id=HUB, hub_config="qnli", submission_files={"test": "QNLI.tsv"},
        description="Question NLI: does the sentence answer the question?",
    ),
    Task(
        name="rte", text_fields=("sentence1", "sentence2"), labels=ENTAILMENT,
        metrics=("accuracy",),
        glue=GlueLayout("RTE", STANDARD, ("sentence1", "sentence2"), "label"),
        hub_id=HUB, hub_config="rte", submission_files={"test": "RTE.tsv"},
        description="Recognizing Textual Entailment.",
    ),
    Task(
        name="wnli", text_fields=("sentence1", "sentence2"), labels=BINARY,
        metrics=("accuracy",),
        glue=GlueLayout("WNLI", STANDARD, ("sentence1", "sentence2"), "label"),
        hub_id=HUB, hub_config="wnli", submission_files={"test": "WNLI.tsv"},
        description="Winograd NLI: does the sentence with the pronoun resolved follow?",
    ),
)


@hookimpl
def glue_register_tasks(register):
    for task in TASKS:
        register(task)
