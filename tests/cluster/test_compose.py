"""docker-compose.yml: valid for Compose (checked by the `docker-compose` command of Debian's package,
`config -q`), and the topology the README and infrastructure/ describe: which services, in which order,
with which health checks, ports and mounted files, HAProxy's backends naming the two hubs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
HAPROXY_CFG = ROOT / "infrastructure" / "haproxy" / "haproxy.cfg"
SERVICES = {
    "postgres",
    "redis",
    "migrate",
    "hub1",
    "hub2",
    "lb",
    "worker1",
    "worker2",
    "prometheus",
    "grafana",
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merge keys (<<) resolved
    found: dict[str, Any] = document["services"]
    return found


def seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(number) * units[unit]
    return total


def test_compose_validates_the_file():
    binary = shutil.which("docker-compose")
    assert binary is not None, (
        "docker-compose is not installed: apt-get install docker-compose (.ci/run does)"
    )
    checked = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_validator_refuses_a_broken_file(tmp_path: Path):
    """The check above can fail: a dependency on a condition Compose does not know is refused."""
    binary = shutil.which("docker-compose")
    assert binary is not None
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: service_ready\n"
        "  b:\n    image: y\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [binary, "-f", str(broken), "config", "-q"], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode != 0


def test_the_services_and_their_order(services: dict[str, Any]):
    assert set(services) == SERVICES
    stores = {"postgres": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    assert services["migrate"]["depends_on"] == stores
    assert "gamif migrate" in " ".join(services["migrate"]["command"])
    for name in ("hub1", "hub2", "worker1", "worker2"):
        assert services[name]["depends_on"] == {
            **stores,
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert services["lb"]["depends_on"] == {
        "hub1": {"condition": "service_healthy"},
        "hub2": {"condition": "service_healthy"},
    }
    assert "--appendonly" in services["redis"]["command"]
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    for name in ("worker1", "worker2"):
        assert services[name]["command"][:2] == ["gamif", "worker"]
        assert services[name]["environment"]["GAMIF_WORKER_METRICS_PORT"] == "9101"


def test_health_checks_and_the_drain(services: dict[str, Any]):
    for name in ("postgres", "redis", "hub1", "hub2"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("hub1", "hub2"):
        hub = services[name]
        assert hub["command"] == ["gamif", "serve"]
        assert "/readyz" in " ".join(hub["healthcheck"]["test"])
        env = hub["environment"]
        assert env["GAMIF_CLIENT_IP_HEADER"] == "X-Forwarded-For"  # what haproxy.cfg sets
        assert env["GAMIF_REDIS_URL"].startswith("redis://redis:")
        # Docker's SIGKILL comes after the drain and the shutdown's 10 s.
        assert seconds(hub["stop_grace_period"]) > float(env["GAMIF_DRAIN_SECONDS"]) + 10
        assert "ports" not in hub  # clients come through the balancer only (the forwarded header)


def test_ports(services: dict[str, Any]):
    published = {name: set(service.get("ports", [])) for name, service in services.items()}
    assert published == {
        "postgres": set(),
        "redis": set(),
        "migrate": set(),
        "hub1": set(),
        "hub2": set(),
        "lb": {"8000:8000", "8404:8404"},
        "worker1": set(),
        "worker2": set(),
        "prometheus": {"9090:9090"},
        "grafana": {"3000:3000"},
    }


def test_every_mounted_file_exists(services: dict[str, Any]):
    mounts = {
        (name, volume.split(":")[0], volume.split(":")[1])
        for name, service in services.items()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    }
    assert mounts == {
        ("lb", "./infrastructure/haproxy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg"),
        ("prometheus", "./infrastructure/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml"),
        ("grafana", "./infrastructure/grafana/provisioning", "/etc/grafana/provisioning"),
        ("grafana", "./infrastructure/grafana/dashboards", "/var/lib/grafana/dashboards"),
    }
    for _, source, _ in mounts:
        assert (ROOT / source).exists(), source


def test_haproxy_balances_the_two_hubs(services: dict[str, Any]):
    config = HAPROXY_CFG.read_text(encoding="utf-8")
    backend = config.split("\nbackend hubs\n", 1)[1].split("\n\n", 1)[0]
    servers = dict(re.findall(r'^\s*server (\S+) "\$\{(\w+)\}"', backend, re.MULTILINE))
    assert servers == {"hub1": "HUB1", "hub2": "HUB2"}
    assert "balance leastconn" in backend
    assert "uri /readyz" in backend
    lb_env = services["lb"]["environment"]
    assert lb_env["HUB1"] == "hub1:8000"
    assert lb_env["HUB2"] == "hub2:8000"
    defaults = dict(re.findall(r"^\s*presetenv (\w+) (\S+)", config, re.MULTILINE))
    assert defaults == {**lb_env, "LB_BIND": ":8000", "STATS_BIND": ":8404"}
    assert "timeout tunnel" in config  # WebSockets outlive the HTTP timeouts
