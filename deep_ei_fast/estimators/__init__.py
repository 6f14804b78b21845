"""Estimators: counts to bits."""
