"""Modal screens: confirmation, details and help."""
