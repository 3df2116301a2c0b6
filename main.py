#!/usr/bin/env python
"""The reference app: ``python main.py`` or ``cdktf synth`` writes cdktf.out/."""

from circleci_network.tooling.provider_loading import load_provider_javascript_lazily

# Before cdktf starts node: node then loads only the provider modules we use (~3x faster synth).
load_provider_javascript_lazily()

from cdktf import App  # noqa: E402

from circleci_network.audit.policy import write_policies  # noqa: E402
from circleci_network.tooling.helm_values import write_helm_values  # noqa: E402
from circleci_network.tooling.kots_settings import write_kots_settings  # noqa: E402
from circleci_network.tooling.scanner_findings import write_checkov_baselines  # noqa: E402
from stacks.reference import add_reference_stacks, clouds_from_environment  # noqa: E402

app = App()
add_reference_stacks(app, clouds_from_environment())
app.synth()
write_checkov_baselines(app.outdir)  # accepted scanner findings, beside the stacks
write_helm_values(app.outdir)  # the Helm values this network decides, beside the stacks
write_policies(app.outdir)  # the options this stack records, for teams to commit and audit against
write_kots_settings(app.outdir)  # v3 server versions: the KOTS admin-console fields instead
