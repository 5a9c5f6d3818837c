"""Build step: the repository's config.toml ships inside the package as its default configuration.

One source of truth: the file at the top of the repository is the one `make run` and the tests read;
an installed gymconsole (`pip install .`, `pipx install .`) carries a copy made here, at build time.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithDefaultConfig(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().with_name("config.toml")
        target = Path(self.build_lib) / "gymconsole" / "default_config.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")


setup(cmdclass={"build_py": BuildWithDefaultConfig})
