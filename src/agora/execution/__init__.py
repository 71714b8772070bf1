"""Execution: venues that work orders and report back what happened to them."""
