"""The image's HEALTHCHECK: healthy when the process's admin port answers ``GET /`` with 200.

Each role has its own default admin port (collector and all-in-one 14269, query 16687, agent
14271, ingester 14270); ``SPYGLASS_ADMIN_PORT`` names it when set, otherwise every default is
tried, so one image-level check serves every role. Standard library only: it runs outside the
virtual environment's interpreter start-up cost."""

import os
import sys
import urllib.request

ports = [os.environ["SPYGLASS_ADMIN_PORT"]] if os.environ.get("SPYGLASS_ADMIN_PORT") else ["14269", "16687", "14271", "14270"]
for port in ports:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        continue
sys.exit(1)
