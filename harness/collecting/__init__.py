"""The wire in: the collector (validation, enrichment, the transport a beacon really took), faults, and
the store.
"""
