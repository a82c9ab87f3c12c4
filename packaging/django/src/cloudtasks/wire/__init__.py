"""The wire format: what travels between the enqueuing process and the one that runs a task.

One versioned JSON payload (payload), the times it carries (moments), and the JSON
values a task's arguments and return value may be (json_values).
"""
