"""Mapping files and the CRM fields a contact's score is written as (pure)."""
