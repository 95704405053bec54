"""First-party schedule families for schedkit; each module is its own plugin (entry point)."""
