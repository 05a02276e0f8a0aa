"""The scale-out stack on loopback, started from the project's own files: a PostgreSQL server (pgserver's
binaries on a Unix socket) for a lake's catalog, and an S3 stand-in (moto's server) for its data. The
scale tests use it; bench/lake_stack.py runs a benchmark against it."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def postgres_server(folder: Path) -> Iterator[Any]:
    """A PostgreSQL server with its data and socket in `folder` (pgserver's PostgresServer), stopped after."""
    import pgserver

    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()


def lake_catalog(server: Any, folder: Path, database: str = "lake") -> str:
    """A new, empty database of the server as a DuckLake catalog (what STIGMA_INSIGHTS_LAKE names)."""
    server.psql(f"create database {database};")
    return f"ducklake:postgres:dbname={database} host={folder} user=postgres"


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def s3_server(bucket: str) -> Iterator[tuple[dict[str, str], Any]]:
    """moto's S3 server on loopback with an empty `bucket`: the AWS variables that point at it, and a client."""
    import boto3

    port = free_loopback_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    environment = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    try:
        for _ in range(100):  # the server takes a second or two to listen
            try:
                s3.create_bucket(Bucket=bucket)
                break
            except Exception:
                time.sleep(0.1)
        yield environment, s3
    finally:
        server.terminate()
        server.wait()
