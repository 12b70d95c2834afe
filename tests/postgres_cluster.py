"""A throw-away PostgreSQL cluster for the tests: made in a folder, on a free loopback port.

Used by ``.ci/run`` (``python tests/postgres_cluster.py start FOLDER`` prints the URL to
export as ``ALUMIO_PG_URL``; ``stop FOLDER`` removes it) and by the test fixtures when no
``ALUMIO_PG_URL`` is set, so that a developer with PostgreSQL installed runs the PostgreSQL
tests with the plain test command. ``initdb`` refuses to run as root: as root, the cluster
is made and run by the ``postgres`` user (which Debian's package creates).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

#: a cluster for tests: nothing needs to survive a crash, so nothing waits for the disk
_SETTINGS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
             " -c max_connections=200 -c shared_buffers=64MB")


class NoPostgres(RuntimeError):
    """No PostgreSQL server can be started here (the reason says why)."""


def server_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on the PATH, or Debian's newest version."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    if not versions:
        raise NoPostgres("no PostgreSQL server programs (initdb, pg_ctl) on this machine;"
                         " install them (Debian: apt-get install postgresql) or set ALUMIO_PG_URL")
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    """Run as ``postgres`` when we are root (``initdb`` and the server refuse root)."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise NoPostgres("running as root and there is no 'postgres' user to run the server as") from None
    return ["runuser", "-u", "postgres", "--", *command]


def start(folder: Path) -> str:
    """Make and start a cluster in ``folder`` (created); returns its superuser URL."""
    binaries = server_binaries()
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()

    def run(*command: object) -> None:
        subprocess.run(_as_owner([*map(str, command)]), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)

    try:
        run(binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync")
        run(binaries / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "start",
            "-o", f"-h 127.0.0.1 -p {port} -k {folder} {_SETTINGS}")
    except subprocess.CalledProcessError as error:
        log = folder / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise NoPostgres(f"{error.cmd[-1] if error.cmd else 'postgres'} failed: {error.stderr}{detail}") from error
    except FileNotFoundError as error:
        raise NoPostgres(f"cannot run {error.filename}") from error
    (folder / "url").write_text(url := f"postgresql://postgres@127.0.0.1:{port}/postgres")
    return url


def stop(folder: Path) -> None:
    """Stop the cluster in ``folder`` (if it runs) and remove the folder."""
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(_as_owner([str(server_binaries() / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                  "-w", "stop"]), check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    action, where = sys.argv[1], Path(sys.argv[2])
    if action == "start":
        try:
            print(start(where))
        except NoPostgres as error:
            sys.exit(f"cannot start PostgreSQL: {error}")
    else:
        stop(where)
