"""paglets: mobile objects for Python."""
