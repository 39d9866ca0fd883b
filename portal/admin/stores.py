"""Admins keep the list of stores (being written)."""
