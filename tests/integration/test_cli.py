"""The command line on bad input: a clear message and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agora.cli import app

runner = CliRunner()


def test_verify_without_a_database_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ledger", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no Agora database" in result.output


def test_verify_of_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "agora.db").write_text("not a database")
    result = runner.invoke(app, ["ledger", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot verify" in result.output
    assert "not a database" in result.output
    assert "Traceback" not in result.output


def test_serve_on_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "agora.db").write_text("not a database")
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot start" in result.output
