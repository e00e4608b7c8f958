"""Batch job generation and canfar_submit semantics."""
