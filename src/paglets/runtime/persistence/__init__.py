"""What a host keeps across restarts: the store of inactive paglets."""
