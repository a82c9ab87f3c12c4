"""Local runs: the Cloud Tasks emulator on loopback (emulator), started in an environment
of its own with the launcher that pushes as a local run needs (emulator_launcher).
"""
