"""Load a prebuilt cdktf provider without executing its package ``__init__``.

``cdktf_cdktf_provider_aws/__init__.py`` imports all 2,216 resource modules (~15 s, ~600 MB).
We register the package as a bare module whose submodules load on first use, so only the
dozen modules we need are executed (~3 s, mostly node loading the provider's JS). The bare
module resolves any attribute as a submodule, so user code that does
``cdktf_cdktf_provider_aws.s3_bucket.S3Bucket`` afterwards still works. If the user
imported the full package first, it is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType


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
