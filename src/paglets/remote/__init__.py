"""Handles to paglets that may live elsewhere: proxies and the stand-alone host client."""
