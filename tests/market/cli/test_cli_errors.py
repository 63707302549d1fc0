"""The CLI turns every failure into one clear line and a non-zero exit code, no traceback."""

from __future__ import annotations

from click.testing import CliRunner

from market.cli.app import cli


def _run(tmp_path, *args, env=None):
    runner = CliRunner()
    base = {"MARKET_HOME": str(tmp_path), "MARKET_PASSWORD": "pw1", "MARKET_RPC_URL": ""}
    return runner.invoke(cli, list(args), env={**base, **(env or {})}, catch_exceptions=False)


def test_wrong_password_is_one_line(tmp_path):
    # Prepare
    assert _run(tmp_path, "wallet", "new", "alice").exit_code == 0

    # Execute: the wallet is unlocked before any chain is contacted
    result = _run(tmp_path, "withdraw", "--from", "alice", env={"MARKET_PASSWORD": "not-the-password"})

    # Assert
    assert result.exit_code == 6
    assert "wrong password for wallet 'alice'" in result.output
    assert "Traceback" not in result.output


def test_wallet_new_refuses_duplicate_name(tmp_path):
    _run(tmp_path, "wallet", "new", "alice")
    result = _run(tmp_path, "wallet", "new", "alice")
    assert result.exit_code == 6
    assert "already exists" in result.output
    assert "Traceback" not in result.output


def test_wallet_new_without_password_source_says_how(tmp_path):
    result = _run(tmp_path, "wallet", "new", "bob", env={"MARKET_PASSWORD": ""})
    assert result.exit_code != 0
    assert "MARKET_PASSWORD" in result.output and "--password-file" in result.output


def test_password_file_is_read(tmp_path):
    pw = tmp_path / "pw.txt"
    pw.write_text("from-file\n")
    assert _run(tmp_path, "wallet", "new", "carol", "--password-file", str(pw), env={"MARKET_PASSWORD": ""}).exit_code == 0
    from market.keystore import Keystore

    account = Keystore(tmp_path / "keystore").unlock("carol", "from-file")
    assert account.address.startswith("0x")


def test_wallet_import_from_key_file(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("0x" + "ab" * 32)
    result = _run(tmp_path, "wallet", "import", "dave", "--key-file", str(key))
    assert result.exit_code == 0
    from eth_account import Account

    assert Account.from_key("0x" + "ab" * 32).address in result.output


def test_wallet_import_rejects_bad_key(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("not-a-key")
    result = _run(tmp_path, "wallet", "import", "eve", "--key-file", str(key))
    assert result.exit_code != 0 and "not a valid private key" in result.output


def test_missing_wallet_lists_known_ones(tmp_path):
    _run(tmp_path, "wallet", "new", "alice")
    result = _run(tmp_path, "wallet", "balance", "mallory")
    assert result.exit_code == 6
    assert "no wallet 'mallory'" in result.output and "alice" in result.output


def test_no_chain_says_to_start_one(tmp_path):
    result = _run(tmp_path, "task", "list")
    assert result.exit_code == 4
    assert "market chain up" in result.output


def test_bad_amount_is_rejected(tmp_path):
    result = _run(tmp_path, "--rpc-url", "http://127.0.0.1:9", "task", "post", "--spec-cid", "x", "--aggregator",
                  "0x" + "11" * 20, "--reward", "lots", "--from", "dev:0")
    assert result.exit_code == 2
    assert "cannot read amount 'lots'" in result.output


def test_unreachable_rpc_is_one_line(tmp_path):
    result = _run(tmp_path, "--rpc-url", "http://127.0.0.1:9", "task", "list")
    assert result.exit_code == 4
    assert "no chain answers at http://127.0.0.1:9" in result.output


def test_task_post_rejects_an_invalid_spec_file_naming_the_field(tmp_path):
    import json

    from market.task_spec import TaskSpec

    raw = json.loads(TaskSpec.example_digits().to_json())
    raw["training"]["batch_size"] = 0
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(raw))
    result = _run(tmp_path, "--rpc-url", "http://127.0.0.1:9", "task", "post", "--spec", str(spec), "--aggregator",
                  "0x" + "11" * 20, "--reward", "1ether", "--from", "dev:0")
    assert result.exit_code != 0
    assert "task spec field training.batch_size" in result.output


def test_a_wrong_password_names_the_source_it_came_from(tmp_path):
    assert _run(tmp_path, "wallet", "new", "alice").exit_code == 0
    from_env = _run(tmp_path, "withdraw", "--from", "alice", env={"MARKET_PASSWORD": "nope"})
    (tmp_path / "pw.txt").write_text("nope\n")
    from_file = _run(tmp_path, "withdraw", "--from", "alice", "--password-file", str(tmp_path / "pw.txt"))
    assert "(from $MARKET_PASSWORD)" in from_env.output and "--password-file" not in from_env.output
    assert f"(from --password-file {tmp_path / 'pw.txt'})" in from_file.output


def test_a_prompted_wrong_password_gets_another_try(tmp_path, monkeypatch):
    assert _run(tmp_path, "wallet", "new", "alice").exit_code == 0
    typed = iter(["nope", "pw1"])
    monkeypatch.setattr("market.cli.context.prompt_password", lambda text, confirm=False: next(typed))

    result = _run(tmp_path, "withdraw", "--from", "alice", env={"MARKET_PASSWORD": ""})

    assert "wrong password; try again" in result.output
    assert "wrong password for wallet" not in result.output  # the second try unlocked it (then no chain answers)
    assert next(typed, None) is None


def test_aggregator_keygen_always_encrypts_and_run_reads_the_same_source(tmp_path):
    made = _run(tmp_path, "aggregator", "keygen", "-o", str(tmp_path / "agg.key"))
    bare = _run(tmp_path, "aggregator", "keygen", "-o", str(tmp_path / "bare.key"), env={"MARKET_PASSWORD": ""})
    assert made.exit_code == 0 and b"ENCRYPTED PRIVATE KEY" in (tmp_path / "agg.key").read_bytes()
    assert bare.exit_code != 0 and not (tmp_path / "bare.key").exists()
    assert "MARKET_PASSWORD" in bare.output and "Traceback" not in bare.output


def test_an_rpc_url_without_a_scheme_suggests_http(tmp_path):
    result = _run(tmp_path, "--rpc-url", "localhost:9999", "task", "list")
    assert result.exit_code != 0 and "did you mean http://localhost:9999?" in result.output


def test_a_spec_without_version_and_share_beside_data_are_refused_before_any_chain(tmp_path):
    import json

    from market.task_spec import TaskSpec

    raw = json.loads(TaskSpec.example_digits().to_json())
    del raw["version"]
    (tmp_path / "spec.json").write_text(json.dumps(raw))
    (tmp_path / "data.npz").write_bytes(b"")
    spec = _run(tmp_path, "task", "post", "--spec", str(tmp_path / "spec.json"), "--aggregator", "0x" + "11" * 20,
                "--reward", "1", "--from", "dev:0")
    share = _run(tmp_path, "trainer", "run", "--task", "1", "--data", str(tmp_path / "data.npz"), "--share", "1/2",
                 "--from", "dev:0")
    assert spec.exit_code != 0 and 'names no version: add "version": 1' in spec.output
    assert share.exit_code != 0 and "--share splits a built-in data set" in share.output
