"""This host in the mesh: membership, heartbeat, host facts and target ranking."""
