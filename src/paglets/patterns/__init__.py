"""Reusable paglet patterns: paglets and mixins that solve one recurring job each."""
