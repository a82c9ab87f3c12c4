"""Configuration: what the settings say, read and checked in one place.

The backend's OPTIONS (options), each queue's retry policy as Cloud Tasks applies it
(retry), the Cloud Tasks backends of TASKS (backends), the environment variables Django
reads (env), and where tasks may be declared (task_modules). Plain values and Django's
settings only: no records, no network.
"""
