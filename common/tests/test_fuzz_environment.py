"""`make fuzz` (scripts/fuzz.py) sends thousands of requests a minute: every rate limit that
answers 429 is raised for its server, or 429s hide the answers it looks at."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Beyond it a forged delivery is refused as any forged one is (400), only not recorded.
NOT_A_429 = {"THROTTLE_FORGED_WEBHOOKS"}


def test_every_throttle_that_answers_429_is_raised_for_the_fuzzers_server():
    settings = "".join(part.read_text() for part in (ROOT / "config/settings").glob("*.py"))
    rates = set(re.findall(r'env_rate\("(\w+)"', settings))
    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "scripts/fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)

    environment = fuzz.server_environment("postgres://postgres@127.0.0.1:5432/unused")

    assert "THROTTLE_RECEIPTS" in rates
    assert {
        name for name in rates - NOT_A_429 if environment.get(name) != "1000000/minute"
    } == set()
