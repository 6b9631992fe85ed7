"""leadsync core: events in, one lead score per contact out. Knows no vendor."""

__version__ = "0.1.0"
