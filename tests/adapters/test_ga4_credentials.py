"""The service account's key file: a bad one is a ConfigError naming
GOOGLE_APPLICATION_CREDENTIALS, and its private key shows nowhere (errors, logs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from adapters.ga4.credentials import load_credentials
from adapters.ga4.settings import CREDENTIALS_ENV
from connector.errors import ConfigError
from connector.secrets import redact
from tests.adapters.ga4_fake import service_account_file


def refused(monkeypatch: pytest.MonkeyPatch, path: Path | None) -> ConfigError:
    if path is None:
        monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    else:
        monkeypatch.setenv(CREDENTIALS_ENV, str(path))
    with pytest.raises(ConfigError) as error:
        load_credentials("sources.web")
    return error.value


def key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if "PRIVATE KEY" not in line and line]


def test_a_good_file_gives_the_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, pem = service_account_file(tmp_path)
    monkeypatch.setenv(CREDENTIALS_ENV, str(path))
    credentials = load_credentials("sources.web")
    assert credentials.service_account_email.startswith("leadsync@")  # type: ignore[attr-defined]
    # Read once, the key is a secret: redact blanks it, whole, escaped or line by line.
    assert pem not in redact(f"dump {pem}")
    assert json.dumps(pem)[1:-1] not in redact(json.dumps({"private_key": pem}))
    assert key_lines(pem)[3] not in redact(f"line: {key_lines(pem)[3]}")


def test_unset_or_unreadable_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = refused(monkeypatch, None)
    assert CREDENTIALS_ENV in str(unset) and unset.key == "sources.web"
    assert "Viewer" in str(unset)  # the hint says what the account needs
    missing = refused(monkeypatch, tmp_path / "nowhere.json")
    assert CREDENTIALS_ENV in str(missing) and "cannot be read" in str(missing)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda text: text[: len(text) // 2], "not JSON"),
        (lambda text: text.replace('"service_account"', '"authorized_user"'), "not a service"),
        (lambda text: text.replace('"client_email"', '"email"'), "without client_email"),
        (lambda text: text.replace("MII", "XXX", 1), "private_key cannot be loaded"),
    ],
    ids=["cut", "wrong-type", "no-client-email", "bad-key"],
)
def test_a_bad_file_is_a_config_error_without_the_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: object,
    said: str,
) -> None:
    path, pem = service_account_file(tmp_path)
    assert callable(damage)
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        error = refused(monkeypatch, path)

    shown = f"{error} {error.attrs()} {logs} {capsys.readouterr()}"
    assert CREDENTIALS_ENV in str(error) and said in str(error)
    for line in key_lines(pem):
        assert line not in shown
    # No chained error carries the decoder's or cryptography's text into a traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
