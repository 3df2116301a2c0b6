"""Deployable stacks: a cloud's provider, an optional remote-state backend, the network and its
outputs, and several environments in one app.

Import the cloud you use: ``circleci_network.stacks.aws`` (needs the ``[aws]`` extra) or
``circleci_network.stacks.gcp`` (``[gcp]``). This package and ``circleci_network.stacks.environments``
load neither provider; an environment's stack module is imported only when it is added.
"""
