"""``market storage``: put, get, export-car, import-car on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from market.cli.storage import cli
from market.storage import compute_cid
from market.storage.exceptions import NotFound
from tests.market.storage.conftest import random_bytes
from tests.market.storage.jsipfs import JsIpfsDaemon


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MARKET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MARKET_STORAGE", raising=False)
    monkeypatch.delenv("MARKET_IPFS_API", raising=False)
    return CliRunner()


def test_put_prints_the_cid_and_get_writes_the_file(runner: CliRunner, tmp_path: Path) -> None:
    # Prepare
    source = tmp_path / "model.safetensors"
    source.write_bytes(random_bytes(600_000, seed=51))
    # Execute
    put = runner.invoke(cli, ["put", str(source)])
    get = runner.invoke(cli, ["get", put.stdout.strip(), "-o", str(tmp_path / "back.bin")])
    # Assert
    assert put.exit_code == 0, put.output
    assert put.stdout.strip() == compute_cid(source.read_bytes())
    assert get.exit_code == 0, get.output
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    assert (tmp_path / "home" / "blocks").is_dir()


def test_export_car_then_import_car_into_another_home(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "spec.json"
    source.write_bytes(b'{"model": "mlp"}')
    cid = runner.invoke(cli, ["put", str(source)]).stdout.strip()
    car = tmp_path / "spec.car"
    assert runner.invoke(cli, ["export-car", cid, "-o", str(car)]).exit_code == 0
    monkeypatch.setenv("MARKET_HOME", str(tmp_path / "other-home"))
    imported = runner.invoke(cli, ["import-car", str(car)])
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.split() == [cid]
    assert (tmp_path / "other-home" / "blocks").is_dir()


@pytest.mark.node
def test_commands_use_the_kubo_backend_when_asked(
    runner: CliRunner, tmp_path: Path, jsipfs_daemon: JsIpfsDaemon
) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(random_bytes(300_000, seed=52))
    put = runner.invoke(cli, ["--storage", "kubo", "--ipfs-api", jsipfs_daemon.api_url, "put", str(source)])
    assert put.exit_code == 0, put.output
    assert not (tmp_path / "home" / "blocks").exists()  # nothing went to the embedded store
    get = runner.invoke(
        cli, ["--ipfs-api", jsipfs_daemon.api_url, "get", put.stdout.strip(), "-o", str(tmp_path / "b")]
    )
    assert get.exit_code == 0, get.output
    assert (tmp_path / "b").read_bytes() == source.read_bytes()


def test_get_of_unknown_content_raises_a_market_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["get", compute_cid(b"nobody stored this"), "-o", str(tmp_path / "x")])
    assert isinstance(result.exception, NotFound)
    assert not (tmp_path / "x").exists()


def test_main_app_prints_storage_errors_as_one_line(runner: CliRunner, tmp_path: Path) -> None:
    from market.cli.app import cli as market

    result = runner.invoke(market, ["storage", "get", "not-a-cid", "-o", str(tmp_path / "x")])
    assert result.exit_code == 7
    assert "not a CID" in result.output
    assert "Traceback" not in result.output
