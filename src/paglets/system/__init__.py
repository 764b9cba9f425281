"""System paglets every host runs: compute slots (and, from other work, server/user/mesh info)."""
