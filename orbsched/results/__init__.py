"""A run's results folder: the summary metrics, the tidy tables, writing and reading them."""
