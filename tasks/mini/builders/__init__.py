"""The builders of promot_mini's data, one module per task family, with the facts and helpers
they share (build.py runs them)."""
