"""Layer-wise learning-rate decay for schedkit (the ``layer_decay`` rule)."""
