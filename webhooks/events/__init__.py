"""Events in: storing them and matching them to subscribers."""
