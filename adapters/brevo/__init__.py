"""Brevo (ex-Sendinblue): its marketing webhook into `leadsync serve`, and a backfill of
campaign activity through its API (``brevo-python``).

- ``settings``: ``[sources.NAME] type = "brevo"``
- ``activity``: one campaign activity as a canonical record, and its event id
- ``webhook``: the token check and the webhook's events
- ``client``: the API calls and what Brevo's failures mean
- ``backfill``: a range of past activity, contact by contact
- ``adapter``: the declaration (the ``leadsync.adapters`` entry point)
"""
