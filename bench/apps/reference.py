"""``main.py`` as it is, with the provider JavaScript loaded lazily (set up before cdktf starts node)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from circleci_network.tooling.provider_loading import load_provider_javascript_lazily

if __name__ == "__main__":
    if not load_provider_javascript_lazily():
        sys.exit("the lazy provider JavaScript preload could not be set up")
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "main.py"), run_name="__main__")
