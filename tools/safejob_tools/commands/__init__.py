"""The safejob-ops command groups: one module each, with a `register(subparsers)` function."""
