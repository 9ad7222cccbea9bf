"""`python -m config.serve [gunicorn's options]`: gunicorn, once the variables it reads are
checked (config.serving). gunicorn reads WEB_CONCURRENCY with a bare int() as its own modules
load, before any config file, so `WEB_CONCURRENCY=auto` (or empty) stopped it with a
ValueError traceback whatever config/gunicorn.py said; here it is refused naming the
variable, and an empty one is its default as every other setting's is. What gunicorn then
reads is the checked value."""

from __future__ import annotations

import os
import sys

from config.serving import Refused, forwarded_allow_ips, web_concurrency


def main() -> None:
    try:
        workers = web_concurrency()
        proxies = forwarded_allow_ips()
    except Refused as refused:
        sys.exit(f"Error: {refused}")
    os.environ["WEB_CONCURRENCY"] = str(workers)
    os.environ["FORWARDED_ALLOW_IPS"] = proxies

    from gunicorn.app.wsgiapp import run

    run(prog="gunicorn")


if __name__ == "__main__":
    main()
