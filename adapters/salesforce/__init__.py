"""Salesforce: Leads and Contacts read for profiles and sales stages, written with scores.
The declaration the core loads is ``adapters.salesforce.adapter``."""
