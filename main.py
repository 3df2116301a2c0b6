#!/usr/bin/env python
"""The reference app: ``python main.py`` or ``cdktf synth`` writes cdktf.out/."""

from cdktf import App

from circleci_network.scanner_findings import write_checkov_baselines
from stacks.reference import add_reference_stacks, clouds_from_environment

app = App()
add_reference_stacks(app, clouds_from_environment())
app.synth()
write_checkov_baselines(app.outdir)  # accepted scanner findings, beside the stacks
