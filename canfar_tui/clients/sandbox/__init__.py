"""Sandbox backends: a simulated CANFAR that runs on the user's own machine."""
