"""lm-eval task suites: promot_suite (the study's datasets) and promot_mini (offline)."""
