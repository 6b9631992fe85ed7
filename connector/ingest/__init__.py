"""Raw records into canonical events, and the identity keys that name a person (pure)."""
