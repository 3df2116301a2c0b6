"""Tooling around the renderers: Helm values, KOTS sheet, scanner baselines, stack outputs,
provider loading and the synth-time validation glue. Reads the model; imports no cloud renderer."""
