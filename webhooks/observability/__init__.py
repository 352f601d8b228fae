"""What an operator sees: log lines, metrics, and the one hook the delivery path calls."""
