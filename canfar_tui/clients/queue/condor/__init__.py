"""The real HTCondor backend (htcondor2 bindings in a worker process)."""
