"""`leadsync rejects` shows what the README says: source, file:line, reason and raw text."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import clean_env, leadsync


def test_the_table_shows_each_rejects_raw_text_cut_to_120_characters(
    tmp_path: Path, store_url: str
) -> None:
    env = clean_env(LEADSYNC_STORE_URL=store_url)
    assert leadsync("init", tmp_path, cwd=tmp_path, env=env).returncode == 0
    long_line = '{"kind": "nope", "note": "' + "x" * 200 + '"}'
    (tmp_path / "bad.jsonl").write_text(f"not json\n{long_line}\n", encoding="utf-8")
    assert leadsync("ingest", "bad.jsonl", cwd=tmp_path, env=env).returncode == 0

    shown = leadsync("rejects", cwd=tmp_path, env=env)

    assert shown.returncode == 0, shown.stderr
    header = shown.stdout.splitlines()[1]
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "source",
        "file:line",
        "reason",
        "raw text",
    ]
    assert "│ not json" in shown.stdout  # the broken line's raw text, whole
    assert "…" in shown.stdout  # the long one cut short...
    assert '"}' not in shown.stdout  # ...before its end
