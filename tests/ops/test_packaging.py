"""The image and the package: pinned versions that match pyproject.toml, a health check, one CJK font."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            found[canonicalize_name(name)] = version
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    for spec in project()["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (name, pinned[name])


def test_ruff_is_pinned_exactly_and_psutil_is_not_a_runtime_dependency() -> None:
    extras = project()["optional-dependencies"]
    ruff = [Requirement(r) for r in extras["test"] if Requirement(r).name == "ruff"]
    assert len(ruff) == 1 and str(ruff[0].specifier).startswith("==")
    runtime = {canonicalize_name(Requirement(r).name) for r in project()["dependencies"]}
    assert "psutil" not in runtime and "tornado" not in runtime
    assert any(Requirement(r).name == "psutil" for r in extras["bench"])


def test_the_image_installs_with_constraints_checks_health_and_ships_one_cjk_font() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install -c constraints\.txt \.", dockerfile)
    assert "COPY pyproject.toml README.md constraints.txt" in dockerfile
    healthcheck = [line for line in dockerfile.splitlines() if "/healthz" in line]
    assert healthcheck and "HEALTHCHECK" in dockerfile
    assert "fonts-noto-cjk" not in dockerfile  # the font comes with mplfonts, once
    assert "EXPOSE 8080" in dockerfile


def test_the_healthcheck_command_fails_on_503_and_passes_on_200(tmp_path) -> None:
    """Run the image's HEALTHCHECK command against a tiny server answering 200, then 503."""
    import http.server
    import threading

    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if 'CMD ["python"' in line)
    code = re.search(r'"-c", "(.*)"\]', line).group(1)
    answer = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer["status"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {"HTTP_PORT": str(server.server_address[1]), "PATH": "/usr/bin:/bin"}
    try:
        ok = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
        answer["status"] = 503
        degraded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert ok.returncode == 0
    assert degraded.returncode != 0
