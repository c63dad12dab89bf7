"""Zeebe's on-store format as values: keys, manifests and their JSON forms, integrity records."""
