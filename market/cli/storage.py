"""``market storage``: put and get blobs, move them as CAR files.

The backend comes from the configuration (``MARKET_STORAGE``, ``MARKET_IPFS_API``,
``MARKET_HOME`` or ``--home``), overridden by ``--storage`` and ``--ipfs-api``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from market.config import MarketConfig
from market.storage import BACKENDS, Storage, open_storage

PROGRESS_THRESHOLD = 8 << 20
"""Files from this size on get a progress bar (on a terminal)."""

_err = Console(stderr=True, highlight=False)


def _config(ctx: click.Context) -> MarketConfig:
    config = getattr(ctx.obj, "config", None)  # the main app's CliContext honours --home
    return config if isinstance(config, MarketConfig) else MarketConfig()


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=_err, transient=True,
    )  # fmt: skip


def _read_with_progress(stream: BinaryIO, size: int, label: str) -> Iterator[bytes]:
    if size < PROGRESS_THRESHOLD or not _err.is_terminal:
        yield from iter(lambda: stream.read(1 << 20), b"")
        return
    with _progress() as progress:
        task = progress.add_task(label, total=size)
        for piece in iter(lambda: stream.read(1 << 20), b""):
            progress.advance(task, len(piece))
            yield piece


@click.group("storage")
@click.option(
    "--storage",
    "backend",
    type=click.Choice(BACKENDS),
    default=None,
    help="Backend (default: MARKET_STORAGE, else embedded).",
)
@click.option(
    "--ipfs-api",
    default=None,
    metavar="URL",
    help="IPFS node RPC API for --storage kubo (default: MARKET_IPFS_API, else http://127.0.0.1:5001).",
)
@click.pass_context
def cli(ctx: click.Context, backend: str | None, ipfs_api: str | None) -> None:
    """Content-addressed storage (IPFS): CIDs identical to `ipfs add --cid-version=1`."""
    config = _config(ctx)
    if ipfs_api and backend is None:
        backend = "kubo"
    changes: dict[str, Any] = {key: value for key, value in (("storage", backend), ("ipfs_api", ipfs_api)) if value}
    storage = open_storage(dataclasses.replace(config, **changes))
    ctx.call_on_close(storage.close)
    ctx.obj = storage


pass_storage = click.make_pass_decorator(Storage)  # type: ignore[type-abstract]  # click only isinstance-checks it


@cli.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_storage
def put(storage: Storage, file: Path) -> None:
    """Store FILE and print its CID."""
    with file.open("rb") as stream:
        cid = storage.put_stream(_read_with_progress(stream, os.path.getsize(file), f"put {file.name}"))
    click.echo(cid)


@cli.command("get")
@click.argument("cid")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write (replaced only once the content has been checked).",
)
@pass_storage
def get(storage: Storage, cid: str, output: Path) -> None:
    """Fetch CID, check it, write it to --output."""
    size = storage.get_file(cid, output)
    _err.print(f"wrote {size} bytes to {output}")


@cli.command("export-car")
@click.argument("cid")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CAR file to write."
)
@pass_storage
def export_car(storage: Storage, cid: str, output: Path) -> None:
    """Write CID and all its blocks as a CAR v1 file (for `ipfs dag import`)."""
    size = storage.export_car_file(cid, output)
    _err.print(f"wrote {size} bytes to {output}")


@cli.command("import-car")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_storage
def import_car(storage: Storage, file: Path) -> None:
    """Check and store every block of a CAR v1 FILE; print its root CIDs."""
    for root in storage.import_car_file(file):
        click.echo(root)
