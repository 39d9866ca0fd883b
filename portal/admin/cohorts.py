"""Admins plan training cohorts (being written)."""
