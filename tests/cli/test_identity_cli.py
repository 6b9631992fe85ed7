"""The anonymous visitor, from the command line: three pricing pages without a name, a
form with an e-mail on a later visit; `explain` names the key that tied them, and
`leadsync identity unlink` gives the visits back."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import add_source, cfg, leadsync, write_jsonl

__all__ = ["cfg"]

VISITOR = {"matomo_visitor": "5f2a0c9e1b7d3a48"}


def _pricing(number: int) -> dict[str, object]:
    return {
        "id": f"pv-{number}",
        "kind": "page_view",
        "occurred_at": f"2026-12-0{number}T10:00:00Z",
        "url": "https://acme.example/pricing",
        "ids": VISITOR,
    }


def _ran(*args: str | Path, cwd: Path) -> str:
    result = leadsync(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_visits_count_once_the_visitor_gives_an_e_mail_and_unlink_undoes_it(
    cfg: Path,
) -> None:
    folder = cfg.parent
    data = add_source(cfg, [_pricing(n) for n in (1, 2, 3)])
    _ran("--config", cfg, "sync", cwd=folder)
    listed = _ran("--config", cfg, "contacts", cwd=folder)
    assert "(no e-mail: contact #1)" in listed  # the visitor, scored on its own so far
    form = {
        "id": "form-1",
        "kind": "form_submit",
        "occurred_at": "2026-12-05T10:00:00Z",
        "email": "ana@acme.example",
        "ids": VISITOR,
    }
    write_jsonl(data, [form], mode="a")
    _ran("--config", cfg, "sync", cwd=folder)

    explained = json.loads(
        _ran("--config", cfg, "explain", "ana@acme.example", "--json", cwd=folder)
    )
    assert explained["score"] == 5 + 3 * 3
    (joined,) = explained["joined_visitors"]
    assert joined["key"] == "matomo_visitor:5f2a0c9e1b7d3a48"
    assert joined["tied_by"] == {"source": "shows", "event_id": "form-1"}
    assert joined["events"] == 3
    text = _ran("--config", cfg, "explain", "ana@acme.example", cwd=folder)
    assert "visitor matomo_visitor:5f2a0c9e1b7d3a48" in text
    assert "by shows event form-1; its 3 event(s) count here" in text
    assert "leadsync identity unlink matomo_visitor:5f2a0c9e1b7d3a48" in text

    unlinked = _ran(
        "--config", cfg, "identity", "unlink", "matomo_visitor:5f2a0c9e1b7d3a48", cwd=folder
    )
    assert "1 key(s) and 3 event(s) back" in unlinked
    _ran("--config", cfg, "score", cwd=folder)
    after = json.loads(_ran("--config", cfg, "explain", "ana@acme.example", "--json", cwd=folder))
    assert after["score"] == 5
    assert after["joined_visitors"][0]["unlinked_at"] is not None


def test_unlink_names_what_is_wrong_with_the_key(cfg: Path) -> None:
    folder = cfg.parent
    bad = leadsync("--config", cfg, "identity", "unlink", "no-colon", cwd=folder)
    assert bad.returncode != 0 and "is not NAMESPACE:VALUE" in bad.stderr
    unknown = leadsync("--config", cfg, "identity", "unlink", "matomo_visitor:x", cwd=folder)
    assert unknown.returncode != 0 and "no identity key matomo_visitor:x" in unknown.stderr
