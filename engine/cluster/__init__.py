"""Running phases on a Dask distributed cluster: the executor (client.py), what travels
(job.py) and what a worker does (worker.py). Needs the `cluster` extra."""
