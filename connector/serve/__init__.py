"""`leadsync serve`: the webhook intake. Routers POST their events to ``/webhooks/NAME``;
each request is checked by its source's receiver (``connector.ports.WebhookReceiver``),
read into events and committed to the ledger before it is answered, so a 2xx means
stored. ``/healthz`` and Prometheus ``/metrics`` beside it."""
