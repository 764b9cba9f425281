"""The ``paglets`` typer application and its classic entry points."""
