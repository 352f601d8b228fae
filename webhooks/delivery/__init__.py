"""Delivering one event to one endpoint: claim, send, judge, record, requeue."""
