"""Gradient clippers for schedkit; each strategy is its own plugin."""
