"""Labelled files for training and evaluation: any CSV or Parquet with a text and a label column."""

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    source: str
    dropped_rows: int  # rows without text or label


def _decode_mixed(data: bytes) -> str:
    """UTF-8, with lines in cp1252 (the usual dirty export) decoded as cp1252 rather than dropped."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        lines = []
        for line in data.splitlines(keepends=True):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(line.decode("cp1252", errors="replace"))
        return "".join(lines)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (text columns as strings, empty cells as "") or Parquet file."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(io.StringIO(_decode_mixed(path.read_bytes())), dtype=str, keep_default_na=False)


def read_labelled_file(path: str | Path, text_col: str, label_col: str) -> LabelledTexts:
    """`label_col` may name alternatives, "a,b": the first one the file has is used (files of one
    corpus sometimes name the label differently)."""
    frame = read_table(path)
    label_col = next((c for c in label_col.split(",") if c in frame.columns), label_col)
    missing = [c for c in (text_col, label_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)} (columns: {', '.join(map(str, frame.columns))})")
    texts = frame[text_col].astype(str).str.strip()
    labels = frame[label_col].astype(str).str.strip()
    keep = (texts != "") & (labels != "") & (labels.str.lower() != "nan")
    return LabelledTexts(
        texts=texts[keep].tolist(), labels=labels[keep].tolist(), source=str(path), dropped_rows=int((~keep).sum())
    )


def concatenate(parts: list[LabelledTexts]) -> LabelledTexts:
    return LabelledTexts(
        texts=[t for p in parts for t in p.texts],
        labels=[label for p in parts for label in p.labels],
        source=" + ".join(p.source for p in parts),
        dropped_rows=sum(p.dropped_rows for p in parts),
    )
