"""Connecting a tenant's accounts (product.md A1): authorisation commands and token storage."""
