"""An example schedkit plugin distribution."""
