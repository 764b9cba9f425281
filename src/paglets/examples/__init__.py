"""Packaged example paglets that every host can load (allowed by default)."""
