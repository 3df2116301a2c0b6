"""Load a prebuilt cdktf provider without executing its package ``__init__``.

``cdktf_cdktf_provider_aws/__init__.py`` imports all 2,216 resource modules (~15 s, ~600 MB).
We register the package as a bare module whose submodules load on first use, so only the
dozen modules we need are executed (~3 s, mostly node loading the provider's JS). The bare
module resolves any attribute as a submodule, so user code that does
``cdktf_cdktf_provider_aws.s3_bucket.S3Bucket`` afterwards still works. If the user
imported the full package first, it is used as it is.

The node side has the same problem: jsii ``require()``s the provider's ``lib/index.js``, which
loads every resource's JavaScript (AWS: ~3.4 s, ~450 MB of node memory). Call
``load_provider_javascript_lazily()`` before the first ``import cdktf`` to load those on use too.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

#: ``CIRCLECI_NETWORK_EAGER_PROVIDER_JS=1`` keeps jsii's default (every provider module loaded by node).
EAGER_JAVASCRIPT_VARIABLE = "CIRCLECI_NETWORK_EAGER_PROVIDER_JS"
LAZY_INDEX_PRELOAD = Path(__file__).with_name("lazy_provider_index.js")


def load_provider_package_lazily(package: str) -> ModuleType:
    existing = sys.modules.get(package)
    if existing is not None:
        return existing
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(
            f"{package} is not installed: run `make synth` (or `pip install -e .`) to install the pinned providers"
        )
    module = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> ModuleType:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[package] = module
    return module


def _jsii_started() -> bool:
    # jsii starts node at the first assembly load; every jsii package loads from its ``_jsii`` module.
    return any(name.endswith("._jsii") for name in sys.modules)


def load_provider_javascript_lazily() -> bool:
    """Have jsii's node process load a provider's JavaScript modules on first use.

    Adds a ``--require`` of ``lazy_provider_index.js`` to ``NODE_OPTIONS``, which node reads only
    when jsii starts it: call this before importing ``cdktf`` or ``constructs``. The synthesized
    output is the same. Returns whether the preload will apply: ``False`` if node already runs or
    ``CIRCLECI_NETWORK_EAGER_PROVIDER_JS=1``.
    """
    if os.environ.get(EAGER_JAVASCRIPT_VARIABLE) == "1" or _jsii_started():
        return False
    preload = str(LAZY_INDEX_PRELOAD)
    options = os.environ.get("NODE_OPTIONS", "")
    if preload not in options:
        quoted = '"' + preload.replace("\\", "\\\\").replace('"', '\\"') + '"'
        os.environ["NODE_OPTIONS"] = f"{options} --require {quoted}".strip()
    return True
