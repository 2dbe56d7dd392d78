"""marathon-engine: coding agents driven through a declared workflow, the way make drives a build.

The data path is visible in the package layout:
spec/ (parse a spec) -> trackers/ (store issues) -> compile.py (tasks for doit) -> run/ (execute)
-> records.py (durable results).
"""

__version__ = "0.1.0"
