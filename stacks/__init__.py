"""This repository's reference configuration (``main.py``, tests, bench); not in the wheel.
The reusable stacks are ``circleci_network.stacks``."""
