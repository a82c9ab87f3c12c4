"""The tasks benchmarks/throughput.py runs, the same code under both backends: this
project's push handler and django-tasks-db's `db_worker` (settings.py, peer_settings.py).
It imports nothing of cloudtasks, so the peer's environment, which lacks it, can load it."""
