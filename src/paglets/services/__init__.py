"""Resident services: typed contracts, the paglets that provide them, and their launch."""
