"""Commands people type (doit init, sync, graph, status, report, hooks, demo): one module each."""
