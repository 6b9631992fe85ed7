"""The steps that read the store, call the pure core and write the store: ingest,
rescoring (and its workers), CRM reads, pushes, explanations."""
