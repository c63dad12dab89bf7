"""Registers the cloud store URL schemes (filled in by the cloud stores)."""
