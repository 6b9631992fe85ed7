"""Machine activity: e-mail opens and clicks a mail scanner or a privacy proxy made.

Security gateways follow every link of a message within seconds of its delivery, and
Apple Mail Privacy Protection fetches every message's images (an "open") whether or not
anyone reads it. Such events stay stored but score nothing: the scorer sets them aside
before any behaviour rule sees them, and ``explain`` lists them with the rule that caught
them. Pure and vendor-free: the adapters say what the router knew in the attributes
``machine``, ``user_agent`` and ``message_id`` (README, "E-mail routers").

Four rules, tried in this order; each can be turned off under ``[scoring]``:

1. ``machine_router_flag``: the router itself flagged the event (``attributes.machine``);
2. ``machine_user_agent``: the opener's or clicker's user agent matches a scanner glob;
3. ``machine_click_after_delivery``: a click less than ``click_within_s`` after its
   message's delivery (the contact's ``email_delivered`` event with the same
   ``message_id``, else its ``email_sent``);
4. ``machine_click_burst``: ``burst_links`` or more distinct URLs of one message clicked
   within ``burst_s`` seconds: every click of that span.

Rules 1 and 2 read one event; 3 and 4 read the contact's other events of the message.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from connector.model import EventKind, JsonValue

__all__ = [
    "DEFAULT_SCANNER_USER_AGENTS",
    "DELIVERY_KINDS",
    "MACHINE_KINDS",
    "MachineClick",
    "MachineRule",
    "MachineRules",
    "MachineVerdict",
    "machine_clicks",
    "machine_rules_in_words",
]

# Globs (case-insensitive, on the whole user agent) of link scanners and HTTP libraries.
# Gateways that name themselves, from "Bot clicks from security scanners: a field guide"
# (https://check.live-direct-marketing.online/blog/bot-clicks-security-scanners-detect):
# Barracuda "fetches with Barracuda in User-Agent", Proofpoint URL Defense's "UA usually
# contains proofpoint", Cisco Secure Email / IronPort "CiscoSecureEmail or similar",
# Microsoft Safe Links / Defender "usually leaks MSOffice"; Mimecast, Trend Micro,
# FortiMail and Sophos are listed there and by Arternal's "Smart Mail Clickthroughs
# Triggered by Email Security Scanners" (support.arternal.com). Microsoft's link
# previews send "BingPreview" and Office's link check "Microsoft Office Existence
# Discovery" (what the Outlook client fetches before a user clicks). Scripts and
# headless browsers name their library in the first token ("python-requests/2.31.0",
# "curl/8.4.0", "Go-http-client/1.1", "HeadlessChrome/120"): no mail client sends those.
# Not here: Gmail's "GoogleImageProxy", which fetches when the reader opens the message.
DEFAULT_SCANNER_USER_AGENTS: tuple[str, ...] = (
    "*barracuda*",
    "*mimecast*",
    "*proofpoint*",
    "*urldefense*",
    "*safelinks*",
    "*msoffice*",
    "*existence discovery*",
    "*bingpreview*",
    "*ironport*",
    "*ciscosecureemail*",
    "*trend micro*",
    "*trendmicro*",
    "*fortimail*",
    "*sophos*",
    "*headlesschrome*",
    "*phantomjs*",
    "python-requests/*",
    "python-urllib/*",
    "python-httpx/*",
    "aiohttp/*",
    "curl/*",
    "wget/*",
    "go-http-client/*",
    "java/*",
    "okhttp/*",
    "apache-httpclient/*",
    "libwww-perl/*",
    "axios/*",
    "node-fetch/*",
)

# Machine activity is a property of engagement: an unsubscribe, a bounce or a spam
# report is the router's record of what happened to the address, whoever clicked.
MACHINE_KINDS = frozenset({EventKind.EMAIL_OPEN.value, EventKind.EMAIL_CLICK.value})
# A message's delivery, best first: the receiving server's acceptance, else the sending.
DELIVERY_KINDS = (EventKind.EMAIL_DELIVERED.value, EventKind.EMAIL_SENT.value)


class MachineRule(StrEnum):
    """The rule that caught an event; shown in ``explain`` in the rule column."""

    ROUTER_FLAG = "machine_router_flag"
    USER_AGENT = "machine_user_agent"
    CLICK_AFTER_DELIVERY = "machine_click_after_delivery"
    CLICK_BURST = "machine_click_burst"


@dataclass(frozen=True, slots=True)
class MachineVerdict:
    """Why an event is machine activity: the rule and, in words, what it saw."""

    rule: MachineRule
    reason: str


@dataclass(frozen=True, slots=True)
class MachineClick:
    """What the timing rules need of one click: when, where to, and which message."""

    occurred_at: datetime
    url: str | None
    message_id: str


def _glob_search(pattern: str) -> str:
    """A glob as a regex for ``search``: "*mimecast*" becomes "mimecast", "curl/*" becomes
    "^curl/". fnmatch's own translation starts each glob with ".*", which makes an
    alternation of thirty globs backtrack over the whole user agent for each (8 µs a
    user agent, measured); globs with "?" or "[...]" keep that translation."""
    if "?" in pattern or "[" in pattern:
        return f"^(?:{fnmatch.translate(pattern)})"
    body = ".*".join(re.escape(part) for part in pattern.strip("*").split("*"))
    start = "" if pattern.startswith("*") else "^"
    end = "" if pattern.endswith("*") else r"\Z"
    return f"{start}{body}{end}"


def _glob_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_glob_search(p)})" for p in patterns), re.IGNORECASE | re.S)


# Distinct user agents remembered per set of rules: a campaign's opens and clicks come
# from a few dozen browsers and gateways, so most are matched once.
_AGENTS_REMEMBERED = 10_000


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 10 else f"{value:.0f} s"


# A file's "machine" column may say no in the words CSV files use.
_NO_FLAG = frozenset({"", "false", "0", "no"})


def _is_flag(value: JsonValue) -> bool:
    """Whether ``attributes.machine`` flags the event: a flag's name, true or a number
    other than 0; not null, false, 0, "" or "false"/"0"/"no"."""
    if isinstance(value, str):
        return value.strip().lower() not in _NO_FLAG
    if isinstance(value, bool | int | float):
        return bool(value)
    return False


@dataclass(frozen=True, slots=True)
class MachineRules:
    """Which machine-activity rules are on, and their thresholds.

    ``click_within_s = 0`` turns the delivery rule off, ``burst_links = 0`` the burst
    rule, an empty ``user_agents`` the user-agent rule.
    """

    router_flag: bool = True
    click_within_s: float = 10
    burst_links: int = 3
    burst_s: float = 5
    user_agents: tuple[str, ...] = DEFAULT_SCANNER_USER_AGENTS
    # Derived from user_agents, never given (``dataclasses.replace`` must not carry
    # another list's answers over).
    _agents: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)
    _agent_seen: dict[str, bool] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_agents", _glob_regex(self.user_agents))

    @property
    def reads_attributes(self) -> bool:
        """Whether rules 1 or 2 are on (they read ``machine`` and ``user_agent``)."""
        return self.router_flag or self._agents is not None

    @property
    def reads_deliveries(self) -> bool:
        return self.click_within_s > 0

    @property
    def reads_messages(self) -> bool:
        """Whether rules 3 or 4 are on (they read a click's ``message_id``)."""
        return self.click_within_s > 0 or self.burst_links > 0

    def of_attributes(self, attributes: Mapping[str, JsonValue]) -> MachineVerdict | None:
        """Rules 1 and 2, on one open's or click's attributes."""
        if self.router_flag:
            flag = attributes.get("machine")
            if _is_flag(flag):
                shown = flag[:80] if isinstance(flag, str) else "true"
                return MachineVerdict(MachineRule.ROUTER_FLAG, f"the router flagged it ({shown})")
        agent = attributes.get("user_agent")
        if self._agents is not None and isinstance(agent, str) and self._is_scanner(agent):
            return MachineVerdict(
                MachineRule.USER_AGENT, f"scanner user agent {agent[:80]!r} (machine_user_agents)"
            )
        return None

    def _is_scanner(self, agent: str) -> bool:
        seen = self._agent_seen.get(agent)
        if seen is None:
            if len(self._agent_seen) >= _AGENTS_REMEMBERED:
                self._agent_seen.clear()
            seen = self._agents is not None and self._agents.search(agent) is not None
            self._agent_seen[agent] = seen
        return seen

    def described(self) -> list[object]:
        """For the rules' fingerprint: any change here rescores everyone."""
        return [
            self.router_flag,
            float(self.click_within_s),
            self.burst_links,
            float(self.burst_s),
            list(self.user_agents),
        ]


def machine_clicks(
    rules: MachineRules,
    clicks: Sequence[MachineClick],
    delivered_at: Mapping[str, datetime],
) -> dict[int, MachineVerdict]:
    """Rules 3 and 4 over one contact's clicks that carry a message id.

    Args:
        rules: the thresholds.
        clicks: the clicks no attribute rule caught.
        delivered_at: each message's delivery time (delivered, else sent), by message id.

    Returns:
        The machine clicks, by their position in ``clicks``; a click caught by both rules
        is reported under the delivery rule.
    """
    verdicts: dict[int, MachineVerdict] = {}
    if rules.click_within_s > 0:
        for position, click in enumerate(clicks):
            delivered = delivered_at.get(click.message_id)
            if delivered is None:
                continue
            # A click stamped before its delivery counts too: "delivered" is when the
            # receiving server accepted the message, and a gateway may follow the links
            # before it answers; routers also stamp events to the second.
            after_s = (click.occurred_at - delivered).total_seconds()
            if after_s < rules.click_within_s:
                shown = _seconds(max(after_s, 0.0))
                verdicts[position] = MachineVerdict(
                    MachineRule.CLICK_AFTER_DELIVERY,
                    f"clicked {shown} after delivery "
                    f"(machine_click_within_s {rules.click_within_s:g})",
                )
    if rules.burst_links > 0:
        by_message: dict[str, list[int]] = {}
        for position, click in enumerate(clicks):
            by_message.setdefault(click.message_id, []).append(position)
        for positions in by_message.values():
            if len({clicks[p].url for p in positions if clicks[p].url}) < rules.burst_links:
                continue
            for position in _in_bursts(rules, clicks, positions):
                verdicts.setdefault(
                    position,
                    MachineVerdict(
                        MachineRule.CLICK_BURST,
                        f"{rules.burst_links}+ links of the message clicked within "
                        f"{rules.burst_s:g} s (machine_burst_links, machine_burst_s)",
                    ),
                )
    return verdicts


def _in_bursts(
    rules: MachineRules, clicks: Sequence[MachineClick], positions: list[int]
) -> list[int]:
    """The clicks of one message inside a span of ``burst_s`` seconds holding
    ``burst_links`` distinct URLs or more: a sliding window over the clicks by time."""
    ordered = sorted(positions, key=lambda p: (clicks[p].occurred_at, clicks[p].url or ""))
    in_window: Counter[str] = Counter()
    caught: list[int] = []
    marked_until = -1  # the last index of ``ordered`` already caught
    start = 0
    for end, position in enumerate(ordered):
        url = clicks[position].url
        if url:
            in_window[url] += 1
        latest = clicks[position].occurred_at
        while (latest - clicks[ordered[start]].occurred_at).total_seconds() > rules.burst_s:
            leaving = clicks[ordered[start]].url
            if leaving:
                in_window[leaving] -= 1
                if not in_window[leaving]:
                    del in_window[leaving]
            start += 1
        if len(in_window) >= rules.burst_links:
            caught.extend(ordered[max(start, marked_until + 1) : end + 1])
            marked_until = end
    return caught


def machine_rules_in_words(rules: MachineRules) -> str:
    """What ``leadsync check`` says of the machine-activity rules: those on, with their
    thresholds, and those turned off."""
    on: list[str] = []
    off: list[str] = []
    (on if rules.router_flag else off).append("what the router flags")
    if rules.user_agents:
        on.append(f"{len(rules.user_agents)} scanner user agents")
    else:
        off.append("user agents")
    if rules.click_within_s > 0:
        on.append(f"clicks under {rules.click_within_s:g} s after delivery")
    else:
        off.append("clicks after delivery")
    if rules.burst_links > 0:
        on.append(f"{rules.burst_links}+ links of one message within {rules.burst_s:g} s")
    else:
        off.append("bursts")
    words = "ignored: " + ", ".join(on) if on else "all off: machine activity scores as any other"
    return words + (f" (off: {', '.join(off)})" if off else "")
