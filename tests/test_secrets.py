"""Secrets blanked out of text, whatever their order of arrival."""

from __future__ import annotations

from connector.secrets import redact, remember_secret


def test_a_secret_that_begins_another_leaves_nothing_of_the_longer_one():
    remember_secret("key-abc")
    remember_secret("key-abc-and-more-secret-text")
    shown = redact("sent key-abc-and-more-secret-text, then key-abc")
    assert shown == "sent ***, then ***"
