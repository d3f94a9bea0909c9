"""Development tooling: synthetic residents, the demo fleet, local service runners.

Tests, the bench and ``dcs-demo`` use it; the product packages (``contract``, ``device``,
``hardware``, ``sync_server``, ``provisioning``) never import it: ``tests/test_layers.py``
walks their imports.
"""
