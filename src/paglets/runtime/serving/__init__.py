"""Serving requests: each incoming verb to the operation it asks for, and local proxies."""
