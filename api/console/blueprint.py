"""The console's one blueprint, served twice: to operators at /console, to tenants as the portal."""

from flask import Blueprint

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
# Registered a second time under this name at PORTAL_PREFIX: the same pages, one tenant.
PORTAL = "portal"
OPERATOR_PREFIX = "/console"
PORTAL_PREFIX = "/console/p/<portal>"
