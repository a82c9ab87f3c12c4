"""The processes of a local run: started, their output prefixed, and all stopped together.

Each child runs in a session (and process group) of its own, so that stopping it stops
what it started too (uvx's Python, runserver's autoreloading child), and Ctrl-C in the
terminal reaches only the supervisor, which then stops everything in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

STOP_SECONDS = 5  # after SIGTERM, before SIGKILL
NAME_WIDTH = 10


class Supervisor:
    def __init__(self, out: TextIO = sys.stdout) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._running: dict[subprocess.Popen[bytes], str] = {}
        self._lasting: set[subprocess.Popen[bytes]] = set()
        self._started: list[subprocess.Popen[bytes]] = []  # each leads a process group
        self._readers: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.reason = ""  # why the run stopped

    def say(self, name: str, line: str) -> None:
        """One line of output, prefixed with the name of what said it."""
        with self._lock:
            self._out.write(f"{name:<{NAME_WIDTH}} | {line.rstrip()}\n")
            self._out.flush()

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None,
        lasting: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start `argv`; its output is said under `name`. A `lasting` process that exits
        stops the whole run."""
        process = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        with self._lock:
            self._running[process] = name
            self._started.append(process)
            if lasting:
                self._lasting.add(process)
        reader = threading.Thread(target=self._relay, args=(name, process), daemon=True)
        reader.start()
        self._readers.append(reader)
        # Watched apart from its output: what it started may keep the pipe open after it exits.
        threading.Thread(target=self._watch, args=(name, process), daemon=True).start()
        return process

    def mark_lasting(self, process: subprocess.Popen[bytes]) -> None:
        """From now on, `process` exiting stops the whole run."""
        with self._lock:
            self._lasting.add(process)
        if process.poll() is not None:
            self.stop(f"{self._name_of(process)} exited with status {process.returncode}")

    def end(self, process: subprocess.Popen[bytes]) -> None:
        """Stop one process (its whole group) now."""
        _signal_group(process, signal.SIGKILL)
        process.wait()

    def _name_of(self, process: subprocess.Popen[bytes]) -> str:
        with self._lock:
            return self._running.get(process, "a process")

    def run(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None) -> int:
        """Start `argv` and wait for it; its exit status (-1 if the run is stopping)."""
        process = self.start(name, argv, env=env, cwd=cwd)
        while True:
            try:
                return process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if self.stopping.is_set():
                    return -1

    def stop(self, reason: str) -> None:
        """Ask the run to stop (from a signal handler or any thread); the first reason wins."""
        if not self.stopping.is_set():
            self.reason = reason
            self.stopping.set()

    def stop_all(self) -> None:
        """SIGTERM to every process group still running, SIGKILL to those still there after
        STOP_SECONDS; returns once all have exited and their output is said."""
        with self._lock:
            running, started = list(self._running), list(self._started)
        for process in running:
            _signal_group(process, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        # What a process started may outlive it in its group (runserver's reloading
        # child, when the parent died first): leave nothing behind.
        for process in started:
            _signal_group(process, signal.SIGKILL)
        for reader in self._readers:
            reader.join(timeout=STOP_SECONDS)

    def _relay(self, name: str, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.say(name, line.decode(errors="replace"))

    def _watch(self, name: str, process: subprocess.Popen[bytes]) -> None:
        status = process.wait()
        with self._lock:
            del self._running[process]
            if not _group_has_members(process):
                self._started.remove(process)  # nothing of it left to stop
            lasting = process in self._lasting
        if lasting and not self.stopping.is_set():
            self.say(name, f"exited with status {status}")
            self.stop(f"{name} exited with status {status}")


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # start_new_session: its pid is its group's id
    except (ProcessLookupError, PermissionError):
        pass


def _group_has_members(process: subprocess.Popen[bytes]) -> bool:
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
