"""The monitor's adapters for other libraries, each imported only when its adapter is made
(``Monitor.lightning()``, ``Monitor.transformers()``): ``import schedkit`` imports none
of those libraries."""
