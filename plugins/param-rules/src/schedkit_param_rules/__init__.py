"""Weight-decay, bias and per-name override rules for schedkit."""
