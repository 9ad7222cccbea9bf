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


def test_the_app_is_published_on_loopback_only():
    """With TRUSTED_PROXY_COUNT set behind a proxy, a client that reached gunicorn directly
    named a new address in X-Forwarded-For on every request and met no limit per address:
    only the proxy may reach the port, and compose published it on every interface."""
    published = compose()["services"]["app"]["ports"]

    assert [port.rsplit(":", 2)[0] for port in published] == ["127.0.0.1"]


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


def test_the_images_user_owns_its_home():
    """WORKDIR made /app as root and `COPY --chown` changes what it copies, not the folder:
    the app user could not create ~/.cache, where fontconfig (WeasyPrint's receipts) keeps
    its font cache."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    user = next(line.split()[1] for line in lines if line.startswith("USER "))
    home = re.search(r"useradd .*--home-dir (\S+)", "\n".join(lines)).group(1)
    before_user = lines[: next(i for i, line in enumerate(lines) if line.startswith("USER "))]

    assert [
        line
        for line in before_user
        if re.fullmatch(rf"RUN .*\bchown (-R )?{user}:{user} ({home} |{home}$).*", line)
    ] != []
