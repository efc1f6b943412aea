"""Training: the one loop every tuner uses, its data, the soft prompt, the shared-prefix
batches, and the data-parallel strategies."""
