"""scripts/dev.sh, run by a test as a person runs it, and what it says and leaves behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_SCRIPT = ROOT / "scripts" / "dev.sh"
READY = "Ready. Ctrl-C stops everything."
START_SECONDS = 240  # a first run installs the environment and the emulator
MARKER = "LOCAL_RUN_TEST_MARKER"  # in dev.sh's environment, so in every process it starts


@dataclass
class Output:
    """The lines a process printed so far; `wait_for` blocks until one matches."""

    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, line: str) -> None:
        with self._changed:
            self.lines.append(line)
            self._changed.notify_all()

    def matching(self, pattern: str) -> list[re.Match[str]]:
        with self._changed:
            return [m for line in self.lines if (m := re.search(pattern, line))]

    def wait_for(self, pattern: str, timeout: float, count: int = 1) -> list[re.Match[str]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self.matching(pattern)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(self.lines[-60:])
                    raise AssertionError(f"no line matched {pattern!r} within {timeout}s; the last lines:\n{tail}")
                self._changed.wait(left)
            return found


@dataclass
class DevSystem:
    process: subprocess.Popen[str]
    port: int
    output: Output
    marker: str
    environment: dict[str, str]  # of the shell that ran dev.sh

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def address(self, part: str) -> str:
        """host:port of a part, as dev.sh prints it ("emulator", "jobs", "mail")."""
        [found] = self.output.matching(rf"^dev\s+\| {part}\s+(?:\w+://)?(127\.0\.0\.1:\d+)")
        return found.group(1)

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C: SIGINT to dev.sh, and its exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


def shell_environment(database_directory: Path) -> dict[str, str]:
    """As a person's shell has it: none of the variables the tests set for their own
    Django; a database of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CLOUD_TASKS_"))}
    return {**env, "DATABASE_URL": f"sqlite:///{database_directory / 'db.sqlite3'}"}


def start(port: int, env: dict[str, str]) -> DevSystem:
    marker = uuid.uuid4().hex
    process = subprocess.Popen(
        [str(DEV_SCRIPT), "--port", str(port)], cwd=ROOT, env={**env, MARKER: marker},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = Output()

    def relay() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.add(line.rstrip("\n"))

    threading.Thread(target=relay, daemon=True).start()
    system = DevSystem(process, port, output, marker, env)
    try:
        output.wait_for(re.escape(READY), START_SECONDS)
    except AssertionError:
        stop(system)
        raise
    return system


def stop(system: DevSystem) -> None:
    """Whatever happened: SIGINT, then SIGKILL to every process still carrying the marker."""
    if system.process.poll() is None:
        try:
            system.interrupt()
        except subprocess.TimeoutExpired:
            system.process.kill()
    for pid in processes_with(system.marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def processes_with(marker: str) -> list[int]:
    """Every process on this machine whose environment carries `marker`."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def environment_of(pid: int) -> dict[str, str]:
    """The environment process `pid` was started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def listening_addresses(pids: list[int]) -> set[str]:
    """The local addresses ("127.0.0.1:8000") of the TCP sockets these processes listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            continue
    addresses = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                addresses.add(_address(local))
    return addresses


def _address(hex_address: str) -> str:
    import ipaddress

    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc/net prints each 32-bit word of the address in host (little-endian) order.
    ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(ordered)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return f"{ip}:{int(port, 16)}" if ip.version == 4 else f"[{ip}]:{int(port, 16)}"
