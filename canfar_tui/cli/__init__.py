"""Every command-line entry point: the dashboard, status, detect, submit, get and put."""
