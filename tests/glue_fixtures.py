"""Small GLUE folders in the exact format of the GLUE download script, for the tasks whose real
files are not on this machine (QQP, MNLI, RTE and the AX diagnostic set).

Column layouts (checked against the legacy transformers GLUE processors and the GLUE files):
QQP train/dev ``id qid1 qid2 question1 question2 is_duplicate``, test ``id question1 question2``;
MNLI train 12 columns ending ``label1 gold_label``, dev 16 ending ``label1 ... label5 gold_label``,
test 10 ending ``sentence1 sentence2``; RTE ``index sentence1 sentence2 label``;
``diagnostic/diagnostic.tsv`` ``index sentence1 sentence2``.
"""

from __future__ import annotations

from pathlib import Path

MNLI_LABELS = ("entailment", "neutral", "contradiction")
MNLI_HEAD = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
             "sentence1_parse", "sentence2_parse", "sentence1", "sentence2")
WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "home", "fast", '"quoted', "it's", "big", "red")


def sentence(i: int, salt: int = 0) -> str:
    # Quote characters are data in GLUE files: an unbalanced " must survive reading.
    return " ".join(WORDS[(i * 7 + k * 3 + salt) % len(WORDS)] for k in range(4 + i % 5))


def write_tsv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            assert len(row) == len(header)
            f.write("\t".join(row) + "\n")
    return path


def qqp(root: Path, n: int = 24) -> Path:
    folder = root / "QQP"
    labelled = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
    for name, start in (("train.tsv", 0), ("dev.tsv", 1000)):
        rows = [(str(start + i), str(2 * i), str(2 * i + 1), sentence(i) + "?", sentence(i, 1) + "?", str(i % 2))
                for i in range(n)]
        write_tsv(folder / name, labelled, rows)
    write_tsv(folder / "test.tsv", ("id", "question1", "question2"),
              [(str(i), sentence(i, 2) + "?", sentence(i, 3) + "?") for i in range(n)])
    return folder


def _mnli_row(i: int, salt: int) -> tuple[str, ...]:
    s1, s2 = sentence(i, salt), sentence(i, salt + 1)
    return (str(i), str(1000 + i), f"{1000 + i}e", "fiction", f"( {s1} )", f"( {s2} )",
            f"(ROOT {s1})", f"(ROOT {s2})", s1, s2)


def mnli(root: Path, n: int = 24, diagnostic: bool = True) -> Path:
    folder = root / "MNLI"
    write_tsv(folder / "train.tsv", (*MNLI_HEAD, "label1", "gold_label"),
              [(*_mnli_row(i, 0), MNLI_LABELS[i % 3], MNLI_LABELS[i % 3]) for i in range(n)])
    dev_head = (*MNLI_HEAD, "label1", "label2", "label3", "label4", "label5", "gold_label")
    for name, salt in (("dev_matched.tsv", 2), ("dev_mismatched.tsv", 4)):
        rows = [(*_mnli_row(i, salt), *(MNLI_LABELS[(i + k) % 3] for k in range(5)), MNLI_LABELS[i % 3])
                for i in range(n)]
        write_tsv(folder / name, dev_head, rows)
    for name, salt in (("test_matched.tsv", 6), ("test_mismatched.tsv", 8)):
        write_tsv(folder / name, MNLI_HEAD, [_mnli_row(i, salt) for i in range(n)])
    if diagnostic:
        write_tsv(root / "diagnostic" / "diagnostic.tsv", ("index", "sentence1", "sentence2"),
                  [(str(i), sentence(i, 9), sentence(i, 10)) for i in range(n + 3)])
    return folder


def rte(root: Path, n: int = 24) -> Path:
    folder = root / "RTE"
    labels = ("entailment", "not_entailment")
    for name, salt in (("train.tsv", 0), ("dev.tsv", 2)):
        write_tsv(folder / name, ("index", "sentence1", "sentence2", "label"),
                  [(str(i), sentence(i, salt), sentence(i, salt + 1), labels[i % 2]) for i in range(n)])
    write_tsv(folder / "test.tsv", ("index", "sentence1", "sentence2"),
              [(str(i), sentence(i, 5), sentence(i, 6)) for i in range(n)])
    return folder


def glue_folder(root: Path) -> Path:
    """A GLUE download with QQP, MNLI (and the diagnostic set) and RTE."""
    qqp(root)
    mnli(root)
    rte(root)
    return root
