"""Task and queue names: what the API, the beat and the workers agree on."""

DELIVER = "webhooks.deliver"
SCHEDULE = "webhooks.schedule"
PURGE = "webhooks.purge"
DELIVERY_QUEUE = "webhooks"
SCHEDULER_QUEUE = "webhooks.schedule"
# Countdowns (retries, reserved instants of a rate limit): never behind a backlog of first sends.
TIMED_QUEUE = "webhooks.timed"
