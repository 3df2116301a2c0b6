#!/usr/bin/env python
"""The reference app: ``python main.py`` or ``cdktf synth`` writes cdktf.out/."""

from circleci_network.tooling.provider_loading import load_provider_javascript_lazily

# Before cdktf starts node: node then loads only the provider modules we use (~3x faster synth).
load_provider_javascript_lazily()

from cdktf import App  # noqa: E402

from circleci_network.tooling.synth_files import write_synth_files  # noqa: E402
from stacks.reference import add_reference_stacks, clouds_from_environment  # noqa: E402

app = App()
add_reference_stacks(app, clouds_from_environment())
app.synth()
# Beside each stack: its policy file, Helm values (or v3's KOTS sheet) and checkov baseline.
write_synth_files(app.outdir)
