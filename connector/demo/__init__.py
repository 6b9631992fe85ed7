"""`leadsync demo`: a sample, a simulated sales desk, the main job end to end."""
