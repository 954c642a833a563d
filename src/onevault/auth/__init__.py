"""Tenants and credentials."""
