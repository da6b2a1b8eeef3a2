"""mitmdump for the TLS-inspection tests: one process, a regular and a reverse
listener, its CA in its own confdir, upstreams on loopback only (see
conftest.py for why and how it is kept there)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
DEFAULT_MITMDUMP = "/opt/netcheck-mitm/bin/mitmdump"
INSTALL = ("python3 -m venv /opt/netcheck-mitm && "
           "/opt/netcheck-mitm/bin/pip install 'mitmproxy==11.0.*'")


def find_mitmdump() -> str | None:
    path = os.environ.get("NETCHECK_MITMDUMP") or DEFAULT_MITMDUMP
    return path if os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Mitmdump:
    """mitmdump with a regular and a reverse listener, its CA in ``confdir``."""

    def __init__(self, binary: str, reverse_to: int) -> None:
        self.binary = binary
        self.reverse_to = reverse_to
        self.workdir = Path(tempfile.mkdtemp(prefix="netcheck-mitm-"))
        self.confdir = self.workdir / "conf"
        self.decisions = self.workdir / "decisions.log"
        self.regular_port = _free_port()
        self.reverse_port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ca_pem(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.regular_port}"

    def start(self, timeout: float = 30.0) -> None:
        self.confdir.mkdir()
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update(PYTHONPATH=str(HERE / "guard"), NETCHECK_MITM_LOG=str(self.decisions))
        cmd = [self.binary, "--listen-host", "127.0.0.1",
               "--mode", f"regular@{self.regular_port}",
               "--mode", f"reverse:https://127.0.0.1:{self.reverse_to}@{self.reverse_port}",
               "--set", f"confdir={self.confdir}", "--set", "ssl_insecure=true",
               "-s", str(HERE / "lab_addon.py")]
        with open(self.workdir / "mitmdump.log", "wb") as out:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while not (_listening(self.regular_port) and _listening(self.reverse_port)
                   and self.ca_pem.exists()):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError(f"mitmdump did not start:\n{log[-3000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "mitmdump.log").read_text(errors="replace")
        return ""

    def decision_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            return self.decisions.read_text().splitlines()
        return []

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
