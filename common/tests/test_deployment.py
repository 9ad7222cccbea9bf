"""compose.yaml and the Dockerfile, read as written (the tests build and run no image)."""

import re
from pathlib import Path

import yaml
from redis.connection import parse_url

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def default_of(value: str) -> str:
    """`${NAME:-default}` as compose reads it when NAME is unset."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    return match.group(1) if match else value


def test_the_app_and_the_worker_count_rate_limits_in_the_compose_redis():
    """Without it each of gunicorn's workers counted alone: a limit let WEB_CONCURRENCY
    times its rate through, which the README calls development only."""
    services = compose()["services"]
    redis = [
        name for name, service in services.items() if service.get("image", "").startswith("redis:")
    ]

    addresses = {
        name: default_of(services[name]["environment"].get("REDIS_URL", ""))
        for name in ("app", "worker")
    }

    assert all(addresses.values()), addresses
    assert {name: parse_url(address)["host"] in redis for name, address in addresses.items()} == {
        "app": True,
        "worker": True,
    }
    assert "redis" in services["app"]["depends_on"]
