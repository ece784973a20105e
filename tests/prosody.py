"""A throwaway Prosody on loopback, for tests, CI and ``opstwin bench xmpp --xmpp``.

:class:`ProsodyServer` writes a minimal config into a private temp folder (domain
``localhost``, 127.0.0.1 only, a free client port, in-band registration on or off (off: accounts
are provisioned with ``prosodyctl``, :attr:`ProsodyServer.adduser`), file storage in that folder, Nagle off, a fresh self-signed certificate), starts ``prosody`` in a process group of
its own, waits until it accepts connections, and at the end kills the group and removes the
folder. The same config, with paths and a port of your own, is what the README documents for
running a team against Prosody.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from opstwin.agents.xmpp.server import XmppError, kill_group

CONFIG = """-- opstwin: a minimal Prosody for agent teams (loopback only, in-band registration)
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "posix" }}
modules_disabled = {{ "s2s"; "offline" }}
allow_registration = {registration}
min_seconds_between_registrations = 0
authentication = "internal_hashed"
storage = "internal"  -- files: prosodyctl provisions accounts the running server then reads
c2s_require_encryption = true
network_settings = {{ nagle = false }}  -- without it every superstep round takes ~48 ms
certificates = "{dir}/certs"
log = {{ info = "{dir}/prosody.log"; error = "{dir}/prosody.err" }}
{root}
VirtualHost "localhost"
"""


def available() -> bool:
    return shutil.which("prosody") is not None and shutil.which("openssl") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProsodyServer:
    """Prosody on 127.0.0.1 and a free port, in a temp folder; a context manager."""

    def __init__(self, start_timeout: float = 20.0, registration: bool = True) -> None:
        """`registration` off: nobody registers in-band; runs create their accounts with :attr:`adduser`."""
        self.start_timeout = start_timeout
        self.registration = registration
        self.host, self.domain = "127.0.0.1", "localhost"
        self.port: int | None = None
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def adduser(self) -> str:
        """The provisioning command for this server, as OPSTWIN_XMPP_ADDUSER takes it."""
        return f"prosodyctl --config {self.dir / 'prosody.cfg.lua'} adduser {{jid}}"

    def start(self) -> ProsodyServer:
        if not available():
            raise XmppError("prosody and openssl must be on PATH (.ci/run installs Debian's prosody)")
        self.dir = Path(tempfile.mkdtemp(prefix="opstwin-prosody-"))
        (self.dir / "certs").mkdir()
        (self.dir / "data").mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", str(self.dir / "certs" / "localhost.key"),
                        "-out", str(self.dir / "certs" / "localhost.crt")], check=True, capture_output=True)
        self.port = free_port()
        root = "run_as_root = true" if os.geteuid() == 0 else ""
        cfg = self.dir / "prosody.cfg.lua"
        cfg.write_text(CONFIG.format(dir=self.dir, port=self.port, root=root,
                                     registration="true" if self.registration else "false"))
        os.chmod(self.dir, 0o755)
        self.proc = subprocess.Popen(["prosody", "--config", str(cfg), "-F"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout  # clock-ok: start-up wait
        while time.monotonic() < deadline:  # clock-ok
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() or b"").decode(errors="replace").strip().splitlines()
                self.stop()
                raise XmppError(f"prosody exited at start: {err[-1] if err else 'no message'}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise XmppError("prosody did not start listening in time")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_group(proc)
            if proc.stderr:
                proc.stderr.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> ProsodyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
