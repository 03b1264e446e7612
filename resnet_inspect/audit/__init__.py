"""Counts under named conventions, claims and their verdicts, differences between networks."""
