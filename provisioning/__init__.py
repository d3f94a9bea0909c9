"""The technicians' tools: the fleet CA, station bundles, broker configuration, hardening."""
