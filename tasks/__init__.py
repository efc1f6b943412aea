"""lm-eval task suites: promot_suite (the study's datasets) and promot_mini (offline)."""

# The most demonstrations one prompt may hold: the CLI's --shots bound, and the size of the
# few-shot pool the suites keep (promot_suite reads MAX_SHOTS + 1 rows of its few-shot splits).
MAX_SHOTS = 32
