"""A real squid for the proxy tests: generated config, own tmp dir, loopback only.

``SquidLab.start()`` writes ``squid.conf`` (from ``squid.conf.in`` beside
this file), a ``hosts`` file mapping the lab names to 127.0.0.1 and an
htpasswd file (``openssl passwd -apr1``, read by squid's ``basic_ncsa_auth``),
then runs ``squid -N -f squid.conf`` in the foreground as a child process.

As root, squid drops to ``cache_effective_user`` (Debian's ``proxy``), so the
work dir is a fresh ``/tmp/netcheck-squid-*`` owned by that user (pytest's
own tmp dirs are 0700 root). As any other user, squid runs as that user.

Needs Debian's ``squid`` package (``/usr/sbin/squid`` and
``/usr/lib/squid/basic_ncsa_auth``) and ``openssl``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import string
import subprocess
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).with_name("squid.conf.in")
_AUTH_HELPERS = ("/usr/lib/squid/basic_ncsa_auth", "/usr/lib64/squid/basic_ncsa_auth",
                 "/usr/libexec/squid/basic_ncsa_auth")


def find_squid() -> str | None:
    """The squid binary, or None when squid is not installed."""
    found = shutil.which("squid")
    if found is None and os.access("/usr/sbin/squid", os.X_OK):
        found = "/usr/sbin/squid"
    if found is None or _ncsa_auth() is None or shutil.which("openssl") is None:
        return None
    return found


def _ncsa_auth() -> str | None:
    return next((p for p in _AUTH_HELPERS if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ephemeral_range() -> tuple[int, int]:
    """Where the kernel binds port 0: the lab servers behind squid live there."""
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


class SquidLab:
    def __init__(self, names: list[str], denied: list[str], user: str, password: str) -> None:
        self.names, self.denied = names, denied
        self.user, self.password = user, password
        self.squid = find_squid()
        assert self.squid is not None, "squid is not installed"
        self.workdir = Path(tempfile.mkdtemp(prefix="netcheck-squid-"))
        self.open_port = _free_port()
        self.auth_port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        low, high = ephemeral_range()
        assert not low <= 443 <= high and not low <= 8021 <= high, (low, high)
        ncsa_auth = _ncsa_auth()
        assert ncsa_auth is not None
        root = os.geteuid() == 0
        user = _unprivileged_user() if root else None
        values = {
            "open_port": self.open_port, "auth_port": self.auth_port,
            "workdir": str(self.workdir), "ncsa_auth": ncsa_auth,
            "lab_ports": f"{low}-{high}", "denied_names": " ".join(self.denied),
            "effective_user": f"cache_effective_user {user}" if user else "",
        }
        conf = self.workdir / "squid.conf"
        conf.write_text(string.Template(TEMPLATE.read_text()).substitute(values))
        (self.workdir / "hosts").write_text(
            "".join(f"127.0.0.1 {name}\n" for name in self.names))
        (self.workdir / "htpasswd").write_text(f"{self.user}:{_apr1(self.password)}\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in [self.workdir, *self.workdir.iterdir()]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        with open(self.workdir / "stderr.log", "wb") as err:
            self._proc = subprocess.Popen(
                [self.squid, "-N", "-f", str(conf)], stdin=subprocess.DEVNULL,
                stdout=err, stderr=err, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while not (_listening(self.open_port) and _listening(self.auth_port)):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = self.log("stderr.log") + self.log("cache.log")
                self.stop()
                raise RuntimeError(f"squid did not start:\n{log[-3000:]}")
            time.sleep(0.05)

    def log(self, name: str = "cache.log") -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / name).read_text(errors="replace")
        return ""

    def dns_queries(self) -> list[str]:
        """Every DNS query squid sent (debug section 78 logs each one)."""
        return [line for line in self.log().splitlines()
                if "idnsALookup" in line or "idnsSendSlaveAAAAQuery" in line
                or "idnsPTRLookup" in line]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # SIGTERM: shutdown_lifetime 0 makes it quick
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _unprivileged_user() -> str:
    for name in ("proxy", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("no 'proxy' or 'nobody' user for squid to run as")


def _apr1(password: str) -> str:
    # The password goes through stdin, not argv (where ps would show it).
    done = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=password.encode(),
                          capture_output=True, check=True, timeout=10)
    return done.stdout.decode().strip()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
