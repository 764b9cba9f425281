"""The benchmark scenarios; each ``run_*`` function takes a Lab and Settings, returns a result."""
