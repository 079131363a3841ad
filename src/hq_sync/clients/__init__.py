"""API clients: one module per vendor on a shared HTTP base (hq_sync.clients.http)."""
