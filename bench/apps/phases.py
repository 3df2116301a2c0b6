"""Phase clock shared by the measured apps; stdlib only so it adds nothing to what is measured."""

from __future__ import annotations

import json
import time

#: Prefix of the one stdout line the runner parses.
MARKER = "BENCH_PHASES "


class Phases:
    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 4)
        self._last = now

    def emit(self) -> None:
        print(MARKER + json.dumps(self.seconds), flush=True)
