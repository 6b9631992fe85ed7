"""HubSpot: contacts read for profiles and sales stages and written with scores (CRM v3
API, official client). The declaration the core loads is ``adapters.hubspot.adapter``."""
