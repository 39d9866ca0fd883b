"""One build step on top of pyproject.toml: compile the translation catalogues into every package.

Compiled catalogues (.mo) are build output and stay out of git, so without this step a wheel carries
only the .po sources and a production install shows English to Chinese candidates. Every build path
runs ``build_py`` — ``pip install``, ``pip wheel``, ``python -m build`` (sdist, then a wheel from the
sdist) and ``pip install -e`` — so every one of them compiles. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TRANSLATIONS = Path("portal", "translations")
DOMAIN = "messages"


def compile_catalogues(directory: Path) -> None:
    """``pybabel compile`` (the same command ./dev runs): fuzzy entries and fuzzy catalogues are skipped."""
    from babel.messages.frontend import CommandLineInterface

    if not any(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        raise SystemExit(f"no {DOMAIN}.po catalogues under {directory}: nothing to compile")
    status = CommandLineInterface().run(["pybabel", "-q", "compile", "-d", str(directory), "-D", DOMAIN])
    if status:
        raise SystemExit(f"pybabel compile failed for {directory} (see the messages above)")


class BuildPyWithCatalogues(build_py):
    """Copy the package as usual, then compile each copied .po into a .mo beside it."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            # An editable install imports from the source tree (the .mo files are git-ignored there).
            compile_catalogues(TRANSLATIONS)
        else:
            compile_catalogues(Path(self.build_lib, TRANSLATIONS))


setup(cmdclass={"build_py": BuildPyWithCatalogues})
