"""A local replica of CADC's web services as the real CADC clients see them.

``cadc-get-cert`` (cadcutils), ``cadcget``/``cadcinfo`` (cadcdata) and ``vcp``/``vls`` (vos) find
every service through the registry; this package serves that registry, the credential service,
the storage-inventory services (raven, minoc, the data service's URI-scheme map, the login
service) and the ``vault`` VOSpace service (the project's loopback VOSpace behind a TLS front
that authenticates users by their proxy certificate), all over HTTPS on 127.0.0.1 with a test
CA. ``scripts/cadc/start.sh`` runs :mod:`cadc_replica.server`; see ``scripts/cadc/README.md``.
"""
