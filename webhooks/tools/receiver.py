"""A local receiver for trying the service out: prints each webhook and checks its signature."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click

from webhooks.security.signing import SignatureError, secret_key, verify


def serve(port: int, secret: str | None, status: int) -> None:
    """Serve on 127.0.0.1:`port` until interrupted."""
    if secret is not None:
        # A mistyped secret would otherwise fail on every request instead of once, here.
        try:
            secret_key(secret)
        except ValueError as exc:
            raise click.ClickException(f"--secret: {exc}") from None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if secret is None:
                verdict = "signature not checked (no --secret)"
            else:
                try:
                    verify(secret, dict(self.headers.items()), body)
                    verdict = "signature valid"
                except SignatureError as exc:
                    verdict = f"SIGNATURE INVALID: {exc}"
            click.echo(f"{self.headers.get('webhook-id')}  {verdict}")
            try:
                click.echo(json.dumps(json.loads(body), indent=2))
            except ValueError:
                click.echo(body[:200])
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # the lines above say more

    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    click.echo(f"receiving webhooks at http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
