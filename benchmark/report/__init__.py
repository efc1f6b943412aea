"""Reporting: the leaderboard tables, plots and page, generated from the result files alone."""
