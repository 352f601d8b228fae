"""Flower, with its /metrics page behind the same basic auth as every other page.

Flower 2.2 serves /metrics to anyone even when --basic-auth is set; `webhooks flower` runs
Flower through this module so that a password, once set, guards everything.
"""

import sys

import tornado.web
from celery.__main__ import main as celery_main
from flower.views import monitor


def main() -> None:
    """Run `celery ... flower` with /metrics authenticated."""
    monitor.Metrics.get = tornado.web.authenticated(monitor.Metrics.get)
    sys.argv[0] = "celery"
    celery_main()


if __name__ == "__main__":
    main()
