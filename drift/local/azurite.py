"""Azurite, Microsoft's Azure Storage emulator, started from the project's own `node_modules`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
# Azurite's well-known development account key: public, documented, and the only key in this repo.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_string(table_port: int, queue_port: int | None = None) -> str:
    out = (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{DEV_ACCOUNT};"
    )
    if queue_port:
        out += f"QueueEndpoint=http://127.0.0.1:{queue_port}/{DEV_ACCOUNT};"
    return out


class Azurite:
    """Azurite's table and queue services on free loopback ports, in memory unless given a folder."""

    def __init__(self, location: Path | None = None) -> None:
        self.location = location
        self.table_port = free_port()
        self.queue_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.table_port, self.queue_port)

    def _command(self) -> list[str]:
        binary = PROJECT / "node_modules" / ".bin" / "azurite"
        if not binary.exists():
            found = shutil.which("azurite")
            if not found:
                raise RuntimeError("Azurite is not installed: run `npm ci` in the project (make does it)")
            binary = Path(found)
        args = [str(binary), "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
                "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
                "--blobHost", "127.0.0.1", "--blobPort", str(free_port()),
                "--skipApiVersionCheck", "--disableTelemetry", "--silent"]
        if self.location:
            self.location.mkdir(parents=True, exist_ok=True)
            args += ["--location", str(self.location)]
        else:
            args += ["--inMemoryPersistence"]
        return args

    def start(self, timeout: float = 30.0) -> Azurite:
        self._process = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace")
                raise RuntimeError(f"Azurite exited at start: {err.strip()[:500]}")
            try:
                for port in (self.table_port, self.queue_port):
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        pass
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Azurite did not listen on port {self.table_port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
