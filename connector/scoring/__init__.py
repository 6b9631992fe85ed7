"""Rules and their settings, scoring, lifecycle, explanations (pure: no store, no clock)."""
