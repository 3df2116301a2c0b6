#!/usr/bin/env python
"""The reference app: ``python main.py`` or ``cdktf synth`` writes cdktf.out/."""

from cdktf import App

from stacks.reference import add_reference_stacks, clouds_from_environment

app = App()
add_reference_stacks(app, clouds_from_environment())
app.synth()
