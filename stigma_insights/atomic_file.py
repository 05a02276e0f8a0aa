"""Files that readers see whole or not at all: written beside their place, then renamed onto it."""

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """`data` as the file at `path`: a reader (or a crash) meets the old file or the new one, never half of
    it. The partial file's name is this process's own, so two processes writing one file do not mix bytes."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
