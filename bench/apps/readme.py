"""The README's own example for a cloud (its python block with ``app.synth()`` and that cloud's
provider), run as a user runs their ``main.py``.

``python -m bench.apps.readme aws|gcp [--library-first] [--no-startup-hook]``:

- default: the README's import order (``cdktf`` and the provider before ``circleci_network``),
  with the startup hook an installed package runs from site-packages (``circleci_network.pth``);
- ``--library-first``: the same code with its ``from circleci_network`` lines moved to the top,
  without the startup hook (what an editable install gives when our package comes first);
- ``--no-startup-hook``: the README's order without the hook (an editable install, or
  ``CIRCLECI_NETWORK_IMPORT_HOOK=0``): the providers load as they ship.

Stdlib only, and nothing of ours is imported before the example's code runs.
"""

from __future__ import annotations

import re
import site
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP = ROOT / "startup"
SKIP = re.compile(r"<!-- readme-test: skip: (.+?) -->")
FILE_NAME = re.compile(r"# ([\w/]+\.py)\s*$")
PROVIDERS = {"aws": "AwsProvider(", "gcp": "GoogleProvider("}


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    code: str
    file_name: str | None  # from a first line `# main.py`
    skip_reason: str | None  # from `<!-- readme-test: skip: reason -->` on the line before


def python_blocks(text: str) -> list[Block]:
    blocks, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```python":
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            code = "\n".join(lines[index + 1 : end]) + "\n"
            named = FILE_NAME.match(code.splitlines()[0]) if code.strip() else None
            skip = SKIP.search(lines[index - 1]) if index else None
            blocks.append(Block(index + 1, code, named.group(1) if named else None, skip.group(1) if skip else None))
            index = end
        index += 1
    return blocks


def example(cloud: str, readme: Path = ROOT / "README.md") -> Block:
    """The first block that synthesizes a stack with ``cloud``'s provider."""
    return next(b for b in python_blocks(readme.read_text()) if "app.synth()" in b.code and PROVIDERS[cloud] in b.code)


def library_first(code: str) -> str:
    lines = code.splitlines(keepends=True)
    ours = [line for line in lines if line.startswith(("from circleci_network", "import circleci_network"))]
    return "".join(ours + [line for line in lines if line not in ours])


def main(argv: list[str]) -> None:
    cloud = argv[0]
    code = example(cloud).code
    if "--library-first" in argv:
        code = library_first(code)
    elif "--no-startup-hook" not in argv:
        site.addsitedir(str(STARTUP))  # as site-packages' circleci_network.pth does at start
    exec(compile(code, "main.py", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main(sys.argv[1:])
