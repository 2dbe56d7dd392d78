"""Default prompt templates and pipeline; installed as the package `engine.templates`."""
