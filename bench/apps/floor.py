"""The floor: cdktf alone (node jsii start) and an empty stack synthesized."""

from __future__ import annotations

from bench.apps.phases import Phases


def main() -> None:
    phases = Phases()
    from cdktf import App, TerraformStack

    phases.mark("import_cdktf")
    app = App()
    TerraformStack(app, "empty")
    phases.mark("build")
    app.synth()
    phases.mark("synth")
    phases.emit()


if __name__ == "__main__":
    main()
