"""Where issues live: the embedded SQLite tracker, or Linear with a local snapshot."""
