"""Django's PostgreSQL backend, waiting a moment when the server refuses a connection
for want of connection slots (cloudtasks.postgresql.base)."""
