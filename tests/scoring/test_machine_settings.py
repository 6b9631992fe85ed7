"""The [scoring] machine_* keys: what leadsync makes of them, and the errors that name the
file, the line and the key when a value cannot work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.config import load_settings, scoring_rules
from connector.scoring.machine import DEFAULT_SCANNER_USER_AGENTS, MachineRules
from tests.test_config import config_error, write_config

MACHINE_TOML = """\
[scoring]
warm_from = 10
machine_router_flag = false
machine_click_within_s = 30
machine_burst_links = 4
machine_burst_s = 2.5
machine_user_agents = ["*mimecast*", "curl/*"]
"""


def test_the_keys_become_the_machine_rules(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, MACHINE_TOML))
    assert scoring_rules(settings).machine == MachineRules(
        router_flag=False,
        click_within_s=30,
        burst_links=4,
        burst_s=2.5,
        user_agents=("*mimecast*", "curl/*"),
    )


def test_without_the_keys_every_rule_is_on_with_the_scanner_list(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "[scoring]\nwarm_from = 10\n"))
    assert scoring_rules(settings).machine == MachineRules(
        True, 10, 3, 5, DEFAULT_SCANNER_USER_AGENTS
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "machine_click_within_s = 30",
            "machine_click_within_s = -1",
            r"\[scoring\.machine_click_within_s\] .*greater than or equal to 0",
        ),
        (
            "machine_click_within_s = 30",
            "machine_click_within_s = 7200",
            r"\[scoring\.machine_click_within_s\] .*less than or equal to 3600",
        ),
        (
            "machine_burst_links = 4",
            "machine_burst_links = 1",
            r"\[scoring\.machine_burst_links\] .*is 1, which would make every click a burst",
        ),
        (
            "machine_burst_s = 2.5",
            "machine_burst_s = 0",
            r"\[scoring\.machine_burst_s\] .*greater than 0",
        ),
        (
            'machine_user_agents = ["*mimecast*", "curl/*"]',
            'machine_user_agents = ["*mimecast*", "**"]',
            r"\[scoring\.machine_user_agents\] .*holds '\*\*', which would match every user",
        ),
        (
            "machine_router_flag = false",
            'machine_router_flag = "sometimes"',
            r"\[scoring\.machine_router_flag\] ",
        ),
        (
            "machine_router_flag = false",
            "machine_router_flags = false",
            r"\[scoring\.machine_router_flags\] ",
        ),
    ],
)
def test_a_bad_value_names_the_file_line_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in MACHINE_TOML
    text = MACHINE_TOML.replace(old, new)
    error = config_error(tmp_path, text)
    (line,) = [n for n, written in enumerate(text.splitlines(), 1) if written == new]
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{line}: "), str(error)
    assert re.search(message, str(error)), str(error)
