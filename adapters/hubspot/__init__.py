"""HubSpot: contacts written with scores and stages (CRM v3 API, official client)."""

from adapters.hubspot.writer import HubSpotWriter, hubspot_writer

__all__ = ["HubSpotWriter", "hubspot_writer"]
