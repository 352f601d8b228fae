"""Tools around the service: the `webhooks` command, the local runner, a test receiver."""
