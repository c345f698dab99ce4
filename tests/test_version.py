"""fastmlp.__version__ is single-sourced from pyproject.toml's [project] version: an
installed build reads the _build_version.py the build backend wrote from it, a source tree
reads ../../pyproject.toml (python/fastmlp/_version.py)."""
from pathlib import Path

import pytest

import fastmlp
from fastmlp import _version

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_version_is_pyprojects():
    want = _version._from_pyproject(PYPROJECT)
    assert want and want[0].isdigit()
    assert fastmlp.__version__ == want


def test_from_pyproject_reads_only_the_project_table(tmp_path):
    p = tmp_path / "pyproject.toml"
    p.write_text('[tool.x]\nversion = "9.9"\n\n[project]\nname = "fastmlp"\nversion = "1.2.3"\n'
                 '[tool.y]\nversion = "8.8"\n')
    assert _version._from_pyproject(p) == "1.2.3"
    p.write_text("[project]\nname = 'fastmlp'\nversion = '4.5'  # comment\n")
    assert _version._from_pyproject(p) == "4.5"


@pytest.mark.parametrize("text", ["", "[tool.x]\nversion = '1'\n", "[project]\nname = 'x'\n"])
def test_from_pyproject_none_without_a_project_version(tmp_path, text):
    p = tmp_path / "pyproject.toml"
    p.write_text(text)
    assert _version._from_pyproject(p) is None
    assert _version._from_pyproject(tmp_path / "missing.toml") is None
