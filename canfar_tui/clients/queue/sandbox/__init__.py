"""The sandbox queue: a local executor that runs jobs on this machine.

A leaf: only the composition root (:mod:`canfar_tui.clients.bundle`) imports it.
"""
