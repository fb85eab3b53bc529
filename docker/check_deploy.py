"""What the deploy files promise, checked (run by docker/lint.sh; no Docker engine needed).

Reads the compose file as the compose tool resolved it (``docker compose --profile cuda config``) on stdin and
the Dockerfiles from disk; prints each broken promise and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VIDSEEK_SERVICES = ("server", "indexer", "indexer-cuda")
DOCKERFILES = ("docker/Dockerfile.cpu", "docker/Dockerfile.cuda")
# Both images install what `make setup` installs: the torch pins, then the package, under the tested lock.
INSTALL_STEPS = (
    r"pip install .*--constraint requirements/constraints\.txt --requirement requirements/torch\.txt",
    r"pip install --constraint requirements/constraints\.txt '\.\[postgres(,cpu)?\]'",  # the CPU image: the cpu engines too
)


def mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """target -> (source, read-only), from the short (``src:dst:ro``) or the long syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found[target] = (source, "ro" in mode)
        else:
            found[volume["target"]] = (str(volume.get("source")), bool(volume.get("read_only")))
    return found


def compose_problems(config: dict) -> list[str]:
    services = config.get("services", {})
    missing = [name for name in ("postgres", *VIDSEEK_SERVICES) if name not in services]
    if missing:
        return [f"no service {name}" for name in missing]
    problems = []
    postgres, server = services["postgres"], services["server"]
    if not str(postgres.get("image", "")).startswith("postgres:"):
        problems.append("postgres: not a postgres image")
    for name, service in (("postgres", postgres), ("server", server)):
        if service.get("healthcheck", {}).get("test") in (None, ["NONE"]):
            problems.append(f"{name}: no health check")
    if server.get("command") != ["serve"]:
        problems.append(f"server: command is {server.get('command')}, not serve")
    for name in VIDSEEK_SERVICES:
        service = services[name]
        url = str(service.get("environment", {}).get("VIDSEEK_DB_URL", ""))
        if not url.startswith("postgresql") or "@postgres:" not in url:
            problems.append(f"{name}: VIDSEEK_DB_URL does not point at the postgres service ({url or 'unset'})")
        if service.get("depends_on", {}).get("postgres", {}).get("condition") != "service_healthy":
            problems.append(f"{name}: does not wait for a healthy postgres")
        volumes = mounts(service)
        if volumes.get("/index", ("", False))[0] != "index":
            problems.append(f"{name}: the index volume is not mounted at /index")
        if "/library" in volumes and not volumes["/library"][1]:
            problems.append(f"{name}: the library is mounted writable")
    for name in ("indexer", "indexer-cuda"):
        service = services[name]
        if service.get("command") != ["index", "build", "/library"]:
            problems.append(f"{name}: command is {service.get('command')}, not index build /library")
        if str(service.get("restart", "no")) != "no":
            problems.append(f"{name}: a one-shot job must not restart")
        if "/library" not in mounts(service):
            problems.append(f"{name}: no library mounted at /library")
    cuda = services["indexer-cuda"]
    devices = cuda.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    if "cuda" not in cuda.get("profiles", []):
        problems.append("indexer-cuda: not in the cuda profile")
    if not any("gpu" in device.get("capabilities", []) for device in devices):
        problems.append("indexer-cuda: reserves no GPU")
    if not str(cuda.get("build", {}).get("dockerfile", "")).endswith("Dockerfile.cuda"):
        problems.append("indexer-cuda: not built from docker/Dockerfile.cuda")
    if "index" not in config.get("volumes", {}):
        problems.append("no index volume")
    return problems


def dockerfile_problems() -> list[str]:
    problems = []
    for dockerfile in DOCKERFILES:
        text = re.sub(r"\\\n\s*", "", (ROOT / dockerfile).read_text())  # continuation lines joined
        for step in INSTALL_STEPS:
            if not re.search(step, text):
                problems.append(f"{dockerfile}: no install step like /{step}/ (the one `make setup` runs)")
    return problems


def main() -> int:
    problems = compose_problems(yaml.safe_load(sys.stdin)) + dockerfile_problems()
    for problem in problems:
        print(f"deploy: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
