"""Logging in to Salesforce from the environment: each mode, and its failures named
without a secret (`responses` answers the login endpoints simple-salesforce calls)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import KeySerializationEncryption

from adapters.salesforce.auth import connect, login_mode
from connector.errors import ConfigError

VERSION = "62.0"


def _key_file(tmp_path: Path, encryption: KeySerializationEncryption | None = None) -> Path:
    """A fresh RSA private key as a PEM file (encrypted with ``encryption`` if given)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            encryption or serialization.NoEncryption(),
        )
    )
    return key_file


def test_a_refused_login_names_the_mode_and_never_the_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:

    password, token = "hunter2-Pa55word", "SecTok-9876543210"
    monkeypatch.setenv("SALESFORCE_USERNAME", "ops@acme.example")
    monkeypatch.setenv("SALESFORCE_PASSWORD", password)
    monkeypatch.setenv("SALESFORCE_SECURITY_TOKEN", token)
    fault = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
        '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com">'
        "<soapenv:Body><soapenv:Fault><faultcode>INVALID_LOGIN</faultcode><detail>"
        "<sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>"
        "Invalid username, password, security token; or user locked out.</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mocked:
        mocked.post(
            f"https://test.salesforce.com/services/Soap/u/{VERSION}", body=fault, status=500
        )
        with pytest.raises(ConfigError) as refused:
            connect(domain="test", api_version=VERSION)
        sent = mocked.calls[0].request.body
    text = str(refused.value)
    assert "username-password login" in text and "INVALID_LOGIN" in text
    assert password not in text and token not in text and password not in caplog.text
    assert password + token in (sent.decode() if isinstance(sent, bytes) else sent)


_ALL_VARIABLES = (
    "ACCESS_TOKEN",
    "INSTANCE_URL",
    "USERNAME",
    "PASSWORD",
    "SECURITY_TOKEN",
    "CONSUMER_KEY",
    "CONSUMER_SECRET",
    "PRIVATE_KEY_FILE",
)


@pytest.fixture
def no_salesforce_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _ALL_VARIABLES:
        monkeypatch.delenv(f"SALESFORCE_{name}", raising=False)
        monkeypatch.delenv(f"SALESFORCE_{name}_FILE", raising=False)
    return monkeypatch


def test_the_access_token_wins_and_needs_no_login_call(
    no_salesforce_env: pytest.MonkeyPatch,
) -> None:

    no_salesforce_env.setenv("SALESFORCE_ACCESS_TOKEN", "00D!token-from-sf-org-display")
    no_salesforce_env.setenv("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
    no_salesforce_env.setenv("SALESFORCE_USERNAME", "ops@acme.example")
    no_salesforce_env.setenv("SALESFORCE_PASSWORD", "unused-password")
    with responses.RequestsMock() as mocked:  # any HTTP call would fail the test
        sf = connect(domain="login", api_version=VERSION)
        assert len(mocked.calls) == 0
    assert sf.base_url == f"https://acme.my.salesforce.com/services/data/v{VERSION}/"


def test_jwt_bearer_signs_an_assertion_with_the_private_key_file(
    no_salesforce_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    key_file = _key_file(tmp_path)
    public_key = serialization.load_pem_private_key(key_file.read_bytes(), None).public_key()
    no_salesforce_env.setenv("SALESFORCE_USERNAME", "ops@acme.example")
    no_salesforce_env.setenv("SALESFORCE_CONSUMER_KEY", "3MVG9-consumer-key")
    no_salesforce_env.setenv("SALESFORCE_PRIVATE_KEY_FILE", str(key_file))
    with responses.RequestsMock() as mocked:
        mocked.post(
            "https://login.salesforce.com/services/oauth2/token",
            json={
                "access_token": "00D!jwt-token",
                "instance_url": "https://acme.my.salesforce.com",
            },
        )
        sf = connect(domain="login", api_version=VERSION)
        form = dict(parse_qsl(mocked.calls[0].request.body))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"],
        public_key,
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert (claims["iss"], claims["sub"]) == ("3MVG9-consumer-key", "ops@acme.example")
    assert sf.session_id == "00D!jwt-token"


def test_client_credentials_need_my_domain_and_post_basic_auth(
    no_salesforce_env: pytest.MonkeyPatch,
) -> None:

    no_salesforce_env.setenv("SALESFORCE_CONSUMER_KEY", "3MVG9-consumer-key")
    no_salesforce_env.setenv("SALESFORCE_CONSUMER_SECRET", "consumer-secret-value")
    with pytest.raises(ConfigError, match="needs your My Domain"):
        connect(domain="login", api_version=VERSION)
    with responses.RequestsMock() as mocked:
        mocked.post(
            "https://acme.my.salesforce.com/services/oauth2/token",
            json={"error": "invalid_client", "error_description": "invalid client credentials"},
            status=400,
        )
        with pytest.raises(ConfigError) as refused:
            connect(domain="acme.my", api_version=VERSION)
        assert mocked.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert "client credentials login" in str(refused.value)
    assert "invalid client credentials" in str(refused.value)
    assert "consumer-secret-value" not in str(refused.value)


def test_half_set_credentials_name_what_is_missing(no_salesforce_env: pytest.MonkeyPatch) -> None:

    with pytest.raises(ConfigError, match="no Salesforce credentials"):
        login_mode()
    no_salesforce_env.setenv("SALESFORCE_ACCESS_TOKEN", "00D!token")
    with pytest.raises(ConfigError, match="SALESFORCE_INSTANCE_URL is not"):
        login_mode()
    no_salesforce_env.delenv("SALESFORCE_ACCESS_TOKEN")
    no_salesforce_env.setenv("SALESFORCE_USERNAME", "ops@acme.example")
    no_salesforce_env.setenv("SALESFORCE_PASSWORD", "pw-value")
    with pytest.raises(ConfigError, match="SALESFORCE_SECURITY_TOKEN is not"):
        login_mode()


def test_an_unreadable_private_key_is_a_clear_error(
    no_salesforce_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    key_file = tmp_path / "server.key"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    no_salesforce_env.setenv("SALESFORCE_USERNAME", "ops@acme.example")
    no_salesforce_env.setenv("SALESFORCE_CONSUMER_KEY", "3MVG9-consumer-key")
    no_salesforce_env.setenv("SALESFORCE_PRIVATE_KEY_FILE", str(key_file))
    with responses.RequestsMock(), pytest.raises(ConfigError) as refused:
        connect(domain="login", api_version=VERSION)
    assert "SALESFORCE_PRIVATE_KEY_FILE cannot sign the JWT" in str(refused.value)


def test_a_passphrase_protected_key_is_a_clear_error(
    no_salesforce_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    key_file = _key_file(tmp_path, serialization.BestAvailableEncryption(b"passphrase"))
    no_salesforce_env.setenv("SALESFORCE_USERNAME", "ops@acme.example")
    no_salesforce_env.setenv("SALESFORCE_CONSUMER_KEY", "3MVG9-consumer-key")
    no_salesforce_env.setenv("SALESFORCE_PRIVATE_KEY_FILE", str(key_file))
    with responses.RequestsMock(), pytest.raises(ConfigError, match="cannot sign the JWT"):
        connect(domain="login", api_version=VERSION)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.my.salesforce.com@evil.example",  # simple-salesforce: host evil.example
        "https://ops:S3cr3t-pw@acme.my.salesforce.com",
        "https://@acme.my.salesforce.com",
    ],
)
def test_an_instance_url_with_a_user_name_or_password_is_refused_before_any_call(
    no_salesforce_env: pytest.MonkeyPatch, url: str
) -> None:
    """The token would go to the host after the @; the URL is not repeated."""
    no_salesforce_env.setenv("SALESFORCE_ACCESS_TOKEN", "00D!token-from-sf-org-display")
    no_salesforce_env.setenv("SALESFORCE_INSTANCE_URL", url)
    with responses.RequestsMock(), pytest.raises(ConfigError) as refused:
        connect(domain="login", api_version=VERSION)
    assert str(refused.value) == (
        "[crm.salesforce] SALESFORCE_INSTANCE_URL holds a user name or password (user@ or "
        "user:password@ before the host), and the token would go to the host after the @; set "
        "it to the instanceUrl `sf org display` prints, like https://acme.my.salesforce.com, "
        "and nothing else"
    )
    assert "S3cr3t" not in str(refused.value) and "evil" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("acme.my.salesforce.com", "must be an https URL like https://acme.my.salesforce.com"),
        ("https://acme.my.salesforce.com:web", "is not a URL"),
    ],
)
def test_an_instance_url_simple_salesforce_cannot_read_is_refused(
    no_salesforce_env: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    """Without a host (or with a port that is no number) the client would fail obscurely."""
    no_salesforce_env.setenv("SALESFORCE_ACCESS_TOKEN", "00D!token-from-sf-org-display")
    no_salesforce_env.setenv("SALESFORCE_INSTANCE_URL", url)
    with pytest.raises(ConfigError) as refused:
        login_mode()
    assert str(refused.value).startswith(f"[crm.salesforce] SALESFORCE_INSTANCE_URL {problem};")
