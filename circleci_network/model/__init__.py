"""The model: rules, ports, roles, options, server versions, platform rules, and the
resolve step that turns them into the policy every renderer and the audit read.

Imports no cloud, no cdktf, no renderer and no audit."""
