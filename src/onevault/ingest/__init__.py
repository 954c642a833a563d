"""Ingestion: the tracking contract, and the durable write of raw events."""
