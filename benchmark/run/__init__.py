"""The commands behind `promot-bench run`, `sweep`, `diagnose`, `probes` and `export`, and
the progress view they share."""
