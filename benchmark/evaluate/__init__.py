"""Evaluation: lm-eval calls with our fast model path, the statistics of the retention matrix,
and what is read from the outputs (formats, flips, gold log-probabilities, probe arithmetic)."""
