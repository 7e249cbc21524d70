"""A private RabbitMQ node for the fault harness, so that it can restart a broker for real
without touching the machine's own (which other tests use).

Same ``rabbitmq-server`` binary, its own node name, ports, data and log directories, cookie
(``HOME``) and an empty plugin list. Starts in about 4 s on this machine; ``stop_app`` /
``start_app`` is the real restart (queues are recovered from disk; quorum queues elect
their one member again).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.infra import free_port

SBIN_CANDIDATES = [
    Path("/usr/lib/rabbitmq/bin"),
    *sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/sbin"), reverse=True),
]


def _sbin() -> Path:
    for path in SBIN_CANDIDATES:
        if (path / "rabbitmq-server").exists():
            return path
    found = shutil.which("rabbitmq-server")
    if found:
        return Path(found).parent
    raise RuntimeError("rabbitmq-server not found: the fault harness needs the RabbitMQ binary")


@dataclass
class PrivateRabbitNode:
    base_dir: Path
    name: str = field(default_factory=lambda: f"sorami-faults-{uuid.uuid4().hex[:8]}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    consumer_timeout_ms: int | None = None
    cookie: str = field(default_factory=lambda: uuid.uuid4().hex)  # the same for a cluster
    extra_conf: tuple[str, ...] = ()  # more rabbitmq.conf lines
    _server: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        b = self.base_dir
        env.update(
            HOME=str(b),  # the Erlang cookie lives here
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(b / "mnesia"),
            RABBITMQ_LOG_BASE=str(b / "log"),
            RABBITMQ_CONFIG_FILE=str(b / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(b / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(b / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(b / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(b / "node.pid"),
        )
        return env

    def ctl(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [str(_sbin() / "rabbitmqctl"), "-q", "-n", self.name, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def start(self, within_s: float = 60) -> float:
        """Start the node; returns how long it took (seconds)."""
        b = self.base_dir
        b.mkdir(parents=True, exist_ok=True)
        cookie = b / ".erlang.cookie"
        if not cookie.exists():  # a restart keeps it
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
        (b / "enabled_plugins").write_text("[].\n")
        (b / "rabbitmq-env.conf").write_text("")
        conf = ["loopback_users = none", "log.console = false", "log.file.level = warning"]
        if self.consumer_timeout_ms is not None:
            conf.append(f"consumer_timeout = {self.consumer_timeout_ms}")
        conf += self.extra_conf
        (b / "rabbitmq.conf").write_text("\n".join(conf) + "\n")
        started = time.monotonic()
        with (b / "server.out").open("ab") as out:
            self._server = subprocess.Popen(
                [str(_sbin() / "rabbitmq-server")],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.ctl(
            "wait", str(b / "node.pid"), "--timeout", str(int(within_s)), timeout=within_s + 10
        )
        self.ctl("await_startup", timeout=within_s)
        return time.monotonic() - started

    def restart_app(self, down_s: float = 0.0) -> float:
        """The real broker restart: ``stop_app`` (every connection dropped, unacked messages
        returned), optionally stay down ``down_s``, ``start_app``. Returns the time taken."""
        started = time.monotonic()
        self.ctl("stop_app")
        if down_s:
            time.sleep(down_s)
        self.ctl("start_app")
        return time.monotonic() - started

    def queues(self) -> dict[str, tuple[int, int]]:
        """name → (messages, consumers)."""
        out = self.ctl("list_queues", "name", "messages", "consumers", "--no-table-headers")
        queues: dict[str, tuple[int, int]] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                queues[parts[0]] = (int(parts[1]), int(parts[2]))
        return queues

    @property
    def beam_pid(self) -> int:
        """The Erlang VM's OS pid (the node writes it to its pid file)."""
        return int((self.base_dir / "node.pid").read_text().strip())

    def kill(self) -> None:
        """SIGKILL the node's VM: no shutdown code runs, as in a crash."""
        os.kill(self.beam_pid, 9)
        self._reap()
        (self.base_dir / "node.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.ctl("stop", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        self._reap()

    def _reap(self) -> None:
        """Wait for the server script to exit (SIGKILL its group after 30 s)."""
        if self._server is None:
            return
        try:
            self._server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self._server.pid, 9)
            self._server.wait()
        self._server = None
