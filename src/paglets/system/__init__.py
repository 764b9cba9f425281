"""System services every host runs (server-info, user-info, mesh-info) and the survey paglet."""
