"""The master records: insured persons and their details, e-accounts, e-ID accounts, petition
history, the change log that drives station replicas. See docs/records-and-replicas.md."""
