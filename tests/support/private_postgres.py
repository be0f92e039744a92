"""A PostgreSQL server of the test's own, from Debian's packages, to stop and start at will.

The shared server on :5432 must stay up for the other tests, so a fault test that takes the
database away runs its own: initdb into a temporary directory, pg_ctl to start and stop it.
As root (CI), the server runs as the `postgres` user, since PostgreSQL refuses root.

The shared server trusts everyone; with `require_password` this one makes every role but
`postgres` (the test's own, still trusted) sign in with a password (scram-sha-256), and with
`ssl` over TLS only, as Azure Database for PostgreSQL does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.process import free_port


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are missing: apt-get install postgresql")
    return found[-1].parent


class PrivatePostgres:
    def __init__(self, *, require_password: bool = False, ssl: bool = False) -> None:
        self.require_password = require_password
        self.ssl = ssl
        self.port = free_port()
        self._bin = _bin_dir()
        # Not under pytest's tmp_path: as root that is private to root, and the server runs
        # as `postgres`.
        self._root = Path(tempfile.mkdtemp(prefix="rp-private-pg-"))
        self._data = self._root / "data"
        self._log = self._root / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self._root, owner.pw_uid, owner.pw_gid)
        os.chmod(self._root, 0o755)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self._data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        if self.ssl:
            self._write_certificate()
        if self.require_password:
            host = "hostssl" if self.ssl else "host"
            self._write_owned(
                "pg_hba.conf",
                "local all all trust\n"
                "host all postgres 127.0.0.1/32 trust\n"
                f"{host} all all 127.0.0.1/32 scram-sha-256\n",
            )

    def _write_owned(self, name: str, text: str, mode: int = 0o600) -> None:
        """A file in the data directory that the server (as `postgres`) may read."""
        path = self._data / name
        path.write_text(text)
        os.chmod(path, mode)
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _write_certificate(self) -> None:
        """A self-signed certificate for 127.0.0.1, as server.crt and server.key (the names
        the server looks for in its data directory when ssl=on)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self._write_owned(
            "server.crt", certificate.public_bytes(serialization.Encoding.PEM).decode(), 0o644
        )
        self._write_owned(
            "server.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._root} -c fsync=off "
            "-c max_connections=60"
        )
        if self.ssl:
            options += " -c ssl=on"
        self._run(
            "pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        """Stops at once, as a crash or a failover would: connections are cut mid-statement."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the server and its backends: connections stay open, but
        nothing answers, as with a hung host or a full disk."""
        postmaster = int((self._data / "postmaster.pid").read_text().split()[0])
        for pid in [postmaster, *_children_of(postmaster)]:
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def remove(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # not running: nothing to thaw
            self.freeze(False)
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


def _children_of(parent: int) -> list[int]:
    """Process ids whose parent is `parent`, from /proc (procps' pgrep may be missing)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces; the fields after its closing ")" do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children
