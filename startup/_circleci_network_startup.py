"""Run at interpreter start by ``circleci_network.pth`` (installed beside it in site-packages).

Costs one small import and no import of our package: it waits for the first import of jsii or a
prebuilt cdktf provider, then installs ``circleci_network.tooling.provider_loading``'s import hook, so the
fast path does not depend on importing ``circleci_network`` first. ``CIRCLECI_NETWORK_IMPORT_HOOK=0``
turns it off.

PYTEST_DONT_REWRITE: pytest would rewrite our plugin's distribution's modules, and warn that this
one, imported at start, cannot be.
"""

import os
import sys

_TRIGGERS = frozenset({"jsii", "cdktf_cdktf_provider_aws", "cdktf_cdktf_provider_google"})


class _Trigger:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname not in _TRIGGERS:
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        try:
            from circleci_network.tooling.provider_loading import LazyProviderFinder, install_import_hook
        except Exception:  # uninstalled or broken: never fail the user's import of jsii for it
            return None
        if not install_import_hook():
            return None
        return LazyProviderFinder().find_spec(fullname, path, target)


_OFF = ("0", "false", "off", "no")  # as circleci_network.tooling.provider_loading.import_hook_enabled reads it
if os.environ.get("CIRCLECI_NETWORK_IMPORT_HOOK", "").strip().lower() not in _OFF and _Trigger not in sys.meta_path:
    sys.meta_path.insert(0, _Trigger)
