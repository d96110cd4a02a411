"""Hosts of a test's own: Linux network namespaces joined by veth pairs to a bridge in this (the driver's) namespace,
each with its own address; a "services" host running a Redis and a PostgreSQL of the test's own on its address.
Needs root and iproute2 (CI runs as root). Everything made here is removed at the end."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.conftest import wait_for


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def available() -> str | None:
    """Why hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


class Network:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.bridge = f"cvb{self.tag}"
        self.subnet = f"10.{77 + secrets.randbelow(100)}.{secrets.randbelow(250) + 1}"
        self.hosts: dict[str, tuple[str, str, str]] = {}  # name -> (namespace, address, veth in this namespace)
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    @property
    def driver(self) -> str:
        """This namespace's address on the network (the leaders' machine, the test's driver)."""
        return f"{self.subnet}.1"

    def add(self, name: str) -> str:
        """A new host; its address."""
        number = len(self.hosts) + 10
        namespace, veth, address = f"cov-{self.tag}-{name}", f"cv{self.tag}{number}", f"{self.subnet}.{number}"
        _ip("netns", "add", namespace)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        self.hosts[name] = (namespace, address, veth)
        return address

    def argv(self, host: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[host][0], *argv]

    def cut(self, host: str) -> None:
        """The host's cable pulled: nothing in or out until `mend`."""
        _ip("link", "set", self.hosts[host][2], "down")

    def mend(self, host: str) -> None:
        _ip("link", "set", self.hosts[host][2], "up")

    def close(self) -> None:
        for namespace, _address, veth in self.hosts.values():
            subprocess.run(["ip", "link", "del", veth], capture_output=True)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return str(found[-1])


class Services:
    """Redis and PostgreSQL on the services host's address (trust authentication, database `covenant`)."""

    def __init__(self, net: Network, folder: Path) -> None:
        self.net, self.folder = net, folder
        self.address = net.add("services")
        self.redis: subprocess.Popen | None = None
        self.postgres: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        # PostgreSQL runs as its own user, who cannot enter pytest's folders (0700): a folder of its own
        self.pgroot = Path(tempfile.mkdtemp(prefix="covenant-pg-"))
        os.chmod(self.pgroot, 0o755)
        self.pgdata, self.pgsock = self.pgroot / "data", self.pgroot / "sock"
        for made in (self.pgdata, self.pgsock):
            made.mkdir()
            shutil.chown(made, "postgres", "postgres")
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                _pg_bin("initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
        )
        with (self.pgdata / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {net.subnet}.0/24 trust\n")  # the test's hosts, and only they

    @property
    def broker_url(self) -> str:
        return f"redis://{self.address}:6379/0"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.address}:5432/covenant"

    def start_redis(self) -> None:
        argv = ["redis-server", "--port", "6379", "--bind", self.address, "--protected-mode", "no"]
        argv += ["--dir", str(self.folder), "--appendonly", "yes", "--save", ""]
        self.redis = subprocess.Popen(
            self.net.argv("services", argv), stdout=(self.folder / "redis.log").open("a"), stderr=subprocess.STDOUT
        )
        client = redis.Redis.from_url(self.broker_url)
        wait_for(lambda: _pings(client), 30, "redis on the services host")

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.terminate()
        self.redis.wait(timeout=30)

    def start_postgres(self, create: bool = False) -> None:
        argv = ["runuser", "-u", "postgres", "--", _pg_bin("postgres"), "-D", str(self.pgdata)]
        argv += ["-h", self.address, "-k", str(self.pgsock), "-c", "max_connections=200"]
        self.postgres = subprocess.Popen(
            self.net.argv("services", argv), stdout=(self.folder / "postgres.log").open("a"), stderr=subprocess.STDOUT
        )
        ready = [_pg_bin("pg_isready"), "-h", self.address, "-p", "5432", "-U", "postgres"]
        wait_for(
            lambda: subprocess.run(ready, capture_output=True).returncode == 0, 60, "postgres on the services host"
        )
        if create:
            subprocess.run(
                ["psql", "-h", self.address, "-U", "postgres", "-c", "CREATE DATABASE covenant"],
                check=True,
                capture_output=True,
            )

    def stop_postgres(self) -> None:
        """A fast shutdown (the sessions of every host are cut, as when the database server restarts)."""
        assert self.postgres is not None
        stop = [
            "runuser",
            "-u",
            "postgres",
            "--",
            _pg_bin("pg_ctl"),
            "-D",
            str(self.pgdata),
            "-m",
            "fast",
            "-w",
            "stop",
        ]
        subprocess.run(stop, check=True, capture_output=True, timeout=120)
        self.postgres.wait(timeout=60)

    def close(self) -> None:
        if self.postgres is not None and self.postgres.poll() is None:
            self.stop_postgres()
        for proc in (self.redis, self.postgres):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.pgroot, ignore_errors=True)


def _runs(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True).returncode == 0


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
