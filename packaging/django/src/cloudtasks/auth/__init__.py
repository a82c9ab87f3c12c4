"""Authentication: who may have a task run.

The push handler verifies the OIDC token each push carries (verify), with Google's
signing keys, fetched and cached (signing_keys); locally, the tasks this system creates
are signed with a key of its own, and only they are trusted (local_signing).
"""
