"""Deactivation requests and policies, and the per-class storage a paglet keeps on a host."""
