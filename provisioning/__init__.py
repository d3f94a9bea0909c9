"""The technicians' tools: broker configuration, station bundles, the local demo fleet."""
