"""Named points where the crash tests kill the process (SIGKILL, as the OOM killer or a power cut would).

Deterministic where a kill timed by sleeping is not: `STIGMA_INSIGHTS_CRASH_AT=<point>` kills the
run exactly there. Unset (always, outside the tests), a crash point does nothing.
"""

import os
import signal

from stigma_insights.settings import crash_at_setting

RAW_LOAD_BEFORE_COMMIT = "raw_load_before_commit"  # a file's records inserted, its transaction open
LABELS_BATCH_COMMITTED = "labels_batch_committed"  # the first batch of labels committed, more may follow


def crash_point(name: str) -> None:
    if crash_at_setting() == name:
        os.kill(os.getpid(), signal.SIGKILL)
