"""The `todo` command line: one module per sub-command."""
