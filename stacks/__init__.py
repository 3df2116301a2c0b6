"""Reference stacks: the deployable compositions of the library's constructs."""
