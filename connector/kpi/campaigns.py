"""Where an event names its campaign, in the order it is believed.

- ``attributes.campaign``: what the e-mail routers write (SendGrid's campaign or single
  send name, Mailchimp's and Mailjet's campaign id, Brevo's campaign id), and what a file
  of events carries under that name;
- ``attributes.utm_campaign``: a file of events that kept the tag as it was;
- a Matomo visit with ``referrer_type`` "campaign": Matomo puts the campaign's name in
  ``referrer_name`` (its Live API's referrerName);
- the ``utm_campaign`` parameter of the event's URL (a page view that landed from a tagged
  link). GA4's events keep no campaign.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

__all__ = ["CAMPAIGN_ATTRIBUTES", "UTM_PARAMETER", "campaign_named"]

CAMPAIGN_ATTRIBUTES = ("campaign", "utm_campaign")
MATOMO_CAMPAIGN_REFERRER = "campaign"
UTM_PARAMETER = "utm_campaign"


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def campaign_named(
    *,
    campaign: object = None,
    utm_campaign: object = None,
    referrer_type: object = None,
    referrer_name: object = None,
    url: str | None = None,
) -> str | None:
    """The campaign an event names, or None."""
    for value in (campaign, utm_campaign):
        text = _text(value)
        if text is not None:
            return text
    if _text(referrer_type) == MATOMO_CAMPAIGN_REFERRER:
        text = _text(referrer_name)
        if text is not None:
            return text
    if url:
        try:
            query = urlsplit(url).query
        except ValueError:  # a URL that is not one names nothing
            return None
        for value in parse_qs(query).get(UTM_PARAMETER, []):
            text = _text(value)
            if text is not None:
                return text
    return None
