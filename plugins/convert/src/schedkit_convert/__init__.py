"""Converters from other libraries' config files to schedkit setups (``schedkit convert``)."""
