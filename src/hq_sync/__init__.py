"""hq-sync: keep helloHQ in sync with awork and Personio (library; see docs/architecture.md)."""
