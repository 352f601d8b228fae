"""The sender against real servers on 127.0.0.1: one attempt, as the audit table records it."""

import ipaddress

from webhooks.security.guard import NetworkGuard

TIMEOUT = 1.0
LOOPBACK = NetworkGuard([ipaddress.ip_network("127.0.0.0/8")])
BODY = b'{"type": "invoice.paid", "data": {}}'
