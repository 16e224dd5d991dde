"""The ingest baseline: an aiohttp app whose collector routes read the body and answer 200, nothing else.

Issue 20 defines the baseline as "a bare aiohttp handler that only reads the body"; before it, this
handler answered without reading, which flattered it (aiohttp drains an unread body off the handler's clock).

Run as ``python -m benchmarks.bare_app --port N`` (a subprocess, like ``harness serve``). It prints
``collector  http://127.0.0.1:PORT/v1/`` once listening, the same line ``harness serve`` prints.
"""

from __future__ import annotations

import argparse

from aiohttp import web

OK = b'{"success": true}'


async def answer(request: web.Request) -> web.Response:
    """The body read, then no parsing, no validation, no storage: the ceiling an aiohttp collector can reach."""
    await request.read()
    return web.Response(body=OK, content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/{kind}", answer)
    app.router.add_get("/", answer)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    async def announce(app: web.Application) -> None:
        print(f"collector  http://{args.host}:{args.port}/v1/", flush=True)

    app = create_app()
    app.on_startup.append(announce)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
