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

``install_import_hook()`` does both whatever the user imports first: ``import circleci_network``
calls it, and the wheel's ``circleci_network.pth`` installs it at interpreter start (through the
tiny ``_circleci_network_startup`` module), so ``from cdktf import App`` or
``from cdktf_cdktf_provider_aws.provider import AwsProvider`` before our own import is fast too.
``CIRCLECI_NETWORK_IMPORT_HOOK=0`` turns the hook off (jsii's and the providers' default loading).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from circleci_network.errors import ConfigurationError

#: ``CIRCLECI_NETWORK_EAGER_PROVIDER_JS=1`` keeps jsii's default (every provider module loaded by node).
EAGER_JAVASCRIPT_VARIABLE = "CIRCLECI_NETWORK_EAGER_PROVIDER_JS"
LAZY_INDEX_PRELOAD = Path(__file__).with_name("lazy_provider_index.js")
#: ``CIRCLECI_NETWORK_IMPORT_HOOK=0`` keeps every import as it is (no import hook, no preload).
IMPORT_HOOK_VARIABLE = "CIRCLECI_NETWORK_IMPORT_HOOK"
#: The prebuilt providers whose package ``__init__`` imports every resource module.
PROVIDER_PACKAGES = frozenset({"cdktf_cdktf_provider_aws", "cdktf_cdktf_provider_google"})
#: The pip extra that installs each provider (pyproject.toml).
_EXTRAS = {"cdktf_cdktf_provider_aws": "aws", "cdktf_cdktf_provider_google": "gcp"}


def load_provider_package_lazily(package: str) -> ModuleType:
    existing = sys.modules.get(package)
    if existing is not None:
        return existing
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        extra = _EXTRAS.get(package, "aws,gcp")
        raise ModuleNotFoundError(
            f"{package} is not installed: install this cloud's extra, `pip install 'circleci-network[{extra}]'`"
        )
    module = importlib.util.module_from_spec(spec)
    _make_bare(module)
    sys.modules[package] = module
    return module


def _make_bare(module: ModuleType) -> None:
    """The package without its ``__init__``: an attribute is its submodule, imported on first use."""
    package = module.__name__

    def __getattr__(name: str) -> ModuleType:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]


class _BareLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        _make_bare(module)


class LazyProviderFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: a provider package imports bare, and jsii's node gets the preload.

    Submodules (``cdktf_cdktf_provider_aws.vpc``) import as usual, from the package's path.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "jsii":
            load_provider_javascript_lazily()  # jsii is imported before it starts node
            return None
        if fullname not in PROVIDER_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.submodule_search_locations is None:
            return None  # not installed: the usual ModuleNotFoundError
        spec.loader = _BareLoader()
        return spec


def import_hook_enabled() -> bool:
    """``CIRCLECI_NETWORK_IMPORT_HOOK``: unset, ``1``/``true``/``on``/``yes`` on; ``0``/``false``/``off``/``no`` off."""
    raw = os.environ.get(IMPORT_HOOK_VARIABLE, "")
    value = raw.strip().lower()
    if value in ("0", "false", "off", "no"):
        return False
    if value not in ("", "1", "true", "on", "yes"):
        raise ConfigurationError(
            IMPORT_HOOK_VARIABLE, f"{raw!r} is neither on nor off", "set it to 0 to turn the hook off, or unset it"
        )
    return True


def install_import_hook() -> bool:
    """Install the ``LazyProviderFinder`` once; returns whether it is installed.

    From now on a provider package imported for the first time skips its ``__init__``, and node
    loads provider JavaScript on use if jsii has not started yet. Off with
    ``CIRCLECI_NETWORK_IMPORT_HOOK=0``.
    """
    if not import_hook_enabled():
        return False
    if not any(isinstance(finder, LazyProviderFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LazyProviderFinder())
    if "jsii" in sys.modules:
        load_provider_javascript_lazily()  # imported, perhaps not started
    return True


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
