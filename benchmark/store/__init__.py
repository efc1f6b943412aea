"""What promot-bench keeps on disk: the cache and its atomic writes, the provenance every
result records, and the fault injection the reliability tests use."""
