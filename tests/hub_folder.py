"""A local folder shaped like the hub's ``nyu-mll/glue``, built from the real GLUE files.

What the hub repository holds: ``<config>/<split>-00000-of-00001.parquet`` per config and split,
written by ``datasets`` (so the parquet schema carries the features), with the hub's column names
(``sentence``/``sentence1``/``sentence2``, ``label``, ``idx``), ``label`` a ClassLabel with the hub's
class names (a float for STS-B), test labels -1, and a README whose YAML ``configs:`` maps each
config's splits to its files and whose ``dataset_info:`` lists the features.

The GLUE files are parsed here on their own terms (tabs, quoting off, CoLA's four header-less
columns, MRPC's byte-order mark), not with glue_cli's reader, so the two paths are compared.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

SPLITS = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}

# config -> (GLUE folder, hub text field -> GLUE column, GLUE label column, hub class names or None)
CONFIGS: dict[str, tuple[str, dict[str, str], str, tuple[str, ...] | None]] = {
    "cola": ("CoLA", {"sentence": "sentence"}, "label", ("unacceptable", "acceptable")),
    "sst2": ("SST-2", {"sentence": "sentence"}, "label", ("negative", "positive")),
    "mrpc": ("MRPC", {"sentence1": "#1 String", "sentence2": "#2 String"}, "Quality",
             ("not_equivalent", "equivalent")),
    "stsb": ("STS-B", {"sentence1": "sentence1", "sentence2": "sentence2"}, "score", None),
}
COLA_COLUMNS = ["source", "label", "original_label", "sentence"]


def glue_rows(path: Path, headerless: list[str] | None) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8-sig").split("\n")
    rows = list(csv.reader([line for line in lines if line], delimiter="\t", quoting=csv.QUOTE_NONE))
    header = headerless if headerless is not None else rows.pop(0)
    return [dict(zip(header, row, strict=True)) for row in rows]


def hub_columns(config: str, split: str, glue_dir: Path, limit: int | None = None) -> dict[str, list[Any]]:
    folder, fields, label_column, _ = CONFIGS[config]
    headerless = COLA_COLUMNS if config == "cola" and split != "test" else None
    rows = glue_rows(glue_dir / folder / SPLITS[split], headerless)[:limit]
    columns: dict[str, list[Any]] = {name: [r[column] for r in rows] for name, column in fields.items()}
    if split == "test":
        columns["label"] = [-1] * len(rows)
        columns["idx"] = [int(r["index"]) for r in rows]
    else:
        regression = CONFIGS[config][3] is None
        columns["label"] = [float(r[label_column]) if regression else int(r[label_column]) for r in rows]
        columns["idx"] = list(range(len(rows)))
    return columns


def features(config: str) -> Any:
    import datasets

    names = CONFIGS[config][3]
    spec = {name: datasets.Value("string") for name in CONFIGS[config][1]}
    spec["label"] = datasets.Value("float32") if names is None else datasets.ClassLabel(names=list(names))
    spec["idx"] = datasets.Value("int32")
    return datasets.Features(spec)


def build_hub_folder(root: Path, glue_dir: Path, configs: tuple[str, ...] = tuple(CONFIGS),
                     limit: int | None = None) -> Path:
    """Write ``root`` (named like the repo, ``glue``) as the hub's ``nyu-mll/glue`` for ``configs``."""
    import datasets
    import yaml

    card: dict[str, Any] = {"configs": [], "dataset_info": []}
    for config in configs:
        feats = features(config)
        info: dict[str, Any] = {"config_name": config, "features": feats._to_yaml_list(), "splits": []}
        card["configs"].append({
            "config_name": config,
            "data_files": [{"split": s, "path": f"{config}/{s}-*"} for s in SPLITS],
        })
        for split in SPLITS:
            table = datasets.Dataset.from_dict(hub_columns(config, split, glue_dir, limit), features=feats)
            path = root / config / f"{split}-00000-of-00001.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_parquet(str(path))
            info["splits"].append({"name": split, "num_examples": len(table)})
        card["dataset_info"].append(info)
    (root / "README.md").write_text("---\n" + yaml.safe_dump(card, sort_keys=False) + "---\n# GLUE (local copy)\n",
                                    encoding="utf-8")
    return root
