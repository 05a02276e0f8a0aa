"""Progress lines for long loops (embedding, fine-tuning, cross-validation): done, rate and ETA."""

import sys
import time


class Progress:
    """Prints `what: done/total (rate/s, ETA)` at most every `every_s` seconds, and when finished."""

    def __init__(self, what: str, total: int, unit: str = "items", every_s: float = 10.0, stream=None):
        self.what, self.total, self.unit, self.every_s = what, total, unit, every_s
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = self.last_print = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last_print >= self.every_s or self.done >= self.total:
            self.last_print = now
            elapsed = max(now - self.started, 1e-9)
            rate = self.done / elapsed
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(
                f"{self.what}: {self.done}/{self.total} {self.unit} ({rate:.1f}/s, elapsed {elapsed:.0f} s,"
                f" ETA {eta:.0f} s)",
                file=self.stream,
                flush=True,
            )
