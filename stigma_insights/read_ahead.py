"""Overlap making the next item with working on this one: the loader's blocks, the embedder's windows."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items` (never None), the next one made in a thread while the caller works on this one. It pays where
    the caller's work lets go of the GIL (DuckDB storing a block, a model running) and making an item does
    too, or is light (reading and splitting bytes, a Rust tokenizer)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(next, items, None)
        while (item := upcoming.result()) is not None:
            upcoming = pool.submit(next, items, None)
            yield item
