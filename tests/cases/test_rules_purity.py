"""cases.rules is the policy and nothing else: it imports only the standard library."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class OnlyTheStandardLibrary(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in sys.stdlib_module_names or name in ("cases", "cases.rules") or (
                name.startswith("cases.rules.")
            ):
                return None
            raise ImportError(f"cases.rules imported {name}")

    sys.meta_path.insert(0, OnlyTheStandardLibrary())
    import cases.rules
    assert "django" not in sys.modules, "django was imported"
    outside = sorted(
        m for m in sys.modules
        if m.partition(".")[0] not in sys.stdlib_module_names
        and not (m == "cases" or m.startswith("cases.rules"))
        and m not in ("__main__",)
        and not m.startswith("_")
    )
    assert not outside, outside
    print(len(cases.rules.__all__))
    """
)


def test_the_rules_import_nothing_but_the_standard_library():
    done = subprocess.run(
        # -S: without site-packages, so nothing installed could be found anyway.
        [sys.executable, "-S", "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={},
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50


def test_the_probe_fails_on_a_third_party_import(tmp_path):
    """The guard itself works: a rules module that imports Django is refused."""
    package = tmp_path / "cases"
    (package / "rules").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "rules" / "__init__.py").write_text("import django\n")
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={},
    )
    assert done.returncode != 0
    assert "cases.rules imported django" in done.stderr
