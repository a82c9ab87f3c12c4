"""Authentication: who may have a task run.

What the push handler accepts follows from the settings (accepted); it verifies the
OIDC token each push carries against that (verify), with Google's signing keys, fetched
and cached (signing_keys). Locally, the tasks this system creates are signed with a key
of its own, and only they are trusted (local_signing).
"""
