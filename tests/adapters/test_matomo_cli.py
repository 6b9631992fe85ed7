"""`leadsync pull` of a matomo source, run as the real command against a loopback Matomo
(pytest-httpserver on 127.0.0.1): an anonymous visitor reads the pricing page, comes back
and logs in; `explain` gives the e-mail both visits' pricing-page points. The token never
shows, not even under --debug, nor in a URL the server was sent; a refused token is a
clean configuration error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connector.errors import ExitCode
from tests.adapters.matomo_fake import TOKEN, FakeMatomo, page_view, visit
from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync

VISITOR = "5f2a0c9e1b7d3a48"


def serve(httpserver: HTTPServer, fake: FakeMatomo, urls: list[str]) -> None:
    def handler(request: Request) -> Response:
        urls.append(request.url)
        status, headers, body = fake.answer(dict(request.args), dict(request.form))
        return Response(body, status=status, headers=headers)

    httpserver.expect_request("/matomo/index.php", method="POST").respond_with_handler(handler)


def project(tmp_path: Path, httpserver: HTTPServer) -> Path:
    assert leadsync("init", tmp_path, cwd=tmp_path).returncode == 0
    config = tmp_path / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[sources.web]\ntype = "matomo"\nurl = "{httpserver.url_for("/matomo/")}"\n'
        "site_id = 1\n",
        encoding="utf-8",
    )
    return tmp_path


def test_pull_then_explain_shows_the_pricing_pages(tmp_path: Path, httpserver: HTTPServer) -> None:
    folder = project(tmp_path, httpserver)
    start = int(time.time()) - 3 * 3_600
    fake = FakeMatomo(
        visits=[
            # Anonymous: the browser's key alone.
            visit(1, [page_view("https://acme.example/pricing", start)], visitor=VISITOR),
            visit(
                2,
                [
                    page_view("https://acme.example/", start + 3_600),
                    page_view("https://acme.example/pricing?plan=team", start + 3_700),
                ],
                visitor=VISITOR,
                user_id="Ana@Acme.example",
            ),
        ]
    )
    urls: list[str] = []
    serve(httpserver, fake, urls)
    env = clean_env(MATOMO_TOKEN=TOKEN)

    pulled = leadsync("--debug", "pull", "--json", cwd=folder, env=env)
    assert pulled.returncode == 0, pulled.stderr
    (summary,) = json.loads(pulled.stdout)
    assert (summary["source"], summary["stored"], summary["rejected"]) == ("web", 5, 0)
    assert TOKEN not in pulled.stdout + pulled.stderr
    assert urls and all(TOKEN not in url for url in urls)

    assert leadsync("score", cwd=folder, env=env).returncode == 0
    explained = leadsync("explain", "ana@acme.example", "--json", cwd=folder, env=env)
    assert explained.returncode == 0, explained.stderr
    facts = json.loads(explained.stdout)
    pricing = [line for line in facts["lines"] if line["rule"] == "pricing_page"]
    assert [line["points"] for line in pricing] == [3, 3]
    assert {line["url"] for line in pricing} == {
        "https://acme.example/pricing",
        "https://acme.example/pricing?plan=team",
    }
    (joined,) = facts["joined_visitors"]
    assert joined["key"] == f"matomo_visitor:{VISITOR}"


def test_a_refused_token_is_a_clean_config_error(tmp_path: Path, httpserver: HTTPServer) -> None:
    folder = project(tmp_path, httpserver)
    urls: list[str] = []
    serve(httpserver, FakeMatomo(), urls)
    wrong = "wrong-token-0123456789"
    refused = leadsync("--debug", "pull", cwd=folder, env=clean_env(MATOMO_TOKEN=wrong))
    assert refused.returncode != 0
    assert "MATOMO_TOKEN" in refused.stderr + refused.stdout
    assert wrong not in refused.stdout + refused.stderr
    assert all(wrong not in url for url in urls)

    checked = leadsync("check", "--online", cwd=folder, env=clean_env(MATOMO_TOKEN=wrong))
    assert_clean_failure(checked, ExitCode.CONFIG)
    assert "MATOMO_TOKEN" in checked.stderr and wrong not in checked.stderr + checked.stdout


@pytest.mark.parametrize("online", [False, True])
def test_check_says_what_it_read(tmp_path: Path, httpserver: HTTPServer, online: bool) -> None:
    folder = project(tmp_path, httpserver)
    with (folder / "config.toml").open("a", encoding="utf-8") as config:
        # A goal mapped to a kind no default rule scores: stored, never counted.
        config.write('[sources.web.goals]\n"Newsletter" = "email_delivered"\n')
    serve(httpserver, FakeMatomo(goals=[{"idsite": "1", "idgoal": "1", "name": "Newsletter"}]), [])
    args = ["check", "--online"] if online else ["check"]
    checked = leadsync(*args, cwd=folder, env=clean_env(MATOMO_TOKEN=TOKEN))
    assert checked.returncode == 0, checked.stderr
    assert "source     ok  web (Matomo http://" in checked.stdout
    assert "goals.Newsletter maps to email_delivered, which no scoring rule" in checked.stdout
    if online:
        assert "online     ok  web: Matomo 5.2.0 took the token: site 1" in checked.stdout
    assert TOKEN not in checked.stdout + checked.stderr
