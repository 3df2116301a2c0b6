"""The files the library writes beside each synthesized stack, in one call after ``app.synth()``."""

from __future__ import annotations

import os
from pathlib import Path

from circleci_network.audit.policy import write_policies
from circleci_network.errors import ConfigurationError
from circleci_network.tooling.helm_values import write_helm_values
from circleci_network.tooling.kots_settings import write_kots_settings
from circleci_network.tooling.scanner_findings import write_checkov_baselines


def write_synth_files(outdir: str | Path = "cdktf.out") -> list[Path]:
    """Writes, beside every stack of ``outdir`` that holds a network of ours:

    - ``circleci-network-policy.json``: the options the stack records; commit it, review its diff,
      and hold the stack to it with ``python -m circleci_network audit <outdir> --policy <folder>``;
    - ``circleci-helm-values.yaml`` (v4 and the default version) or ``circleci-kots-settings.md``
      (``v3``): the Server settings this network decides;
    - ``.checkov.baseline``: the scanner findings the hardening guide's design accepts
      (``checkov -d <outdir> --baseline <outdir>/.checkov.baseline``).

    Returns the files written. Call it after ``app.synth()`` (``app.outdir`` is the folder).
    """
    if not isinstance(outdir, (str, os.PathLike)):
        raise ConfigurationError(
            "write_synth_files(outdir)",
            f"{type(outdir).__name__} is not a folder",
            "pass app.outdir (a path), after app.synth()",
        )
    if not (Path(outdir) / "manifest.json").is_file():
        # A stack folder or a missing folder would otherwise write a stray baseline or fail deep inside.
        raise ConfigurationError(
            "write_synth_files(outdir)",
            f"{outdir} is not a cdktf output folder (no manifest.json)",
            "pass app.outdir, after app.synth() (the folder that holds stacks/<stack>/cdk.tf.json)",
        )
    return [
        *write_policies(outdir),
        *write_helm_values(outdir),
        *write_kots_settings(outdir),
        *write_checkov_baselines(outdir),
    ]
