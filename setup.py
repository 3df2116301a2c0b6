"""Only what pyproject.toml cannot say: ship ``circleci_network.pth`` at the root of site-packages.

The .pth imports ``_circleci_network_startup`` at interpreter start, which installs the fast
provider loading whatever the user imports first (see circleci_network/tooling/provider_loading.py).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

STARTUP = Path(__file__).parent / "startup"
STARTUP_FILES = ("circleci_network.pth", "_circleci_network_startup.py")


class BuildPyWithStartupHook(build_py):
    def run(self) -> None:
        super().run()
        for name in STARTUP_FILES:
            self.copy_file(str(STARTUP / name), str(Path(self.build_lib) / name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *(str(Path(self.build_lib) / n) for n in STARTUP_FILES)]


if __name__ == "__main__":  # as setuptools' build backend runs it
    setup(cmdclass={"build_py": BuildPyWithStartupHook})
