"""The back office: officers work the queue of petitions and correction requests."""
