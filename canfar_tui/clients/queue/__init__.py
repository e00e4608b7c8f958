"""The HTCondor queue: submit and edit languages, the htcondor2 backend, the sandbox queue."""
