"""A task's clock: phases counted apart from its work, and what its imports brought in."""

import sys

from scribeflow.core.timings import phase, timed


def test_the_imports_phase_names_the_packages_it_imported(tmp_path, monkeypatch):
    (tmp_path / "sf_heavy_pkg").mkdir()
    (tmp_path / "sf_heavy_pkg" / "__init__.py").write_text("import sf_heavy_pkg.inner\n")
    (tmp_path / "sf_heavy_pkg" / "inner.py").write_text("VALUE = 1\n")
    (tmp_path / "sf_light.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("sf_heavy_pkg", "sf_heavy_pkg.inner", "sf_light"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with timed() as timing:
        with phase("imports"):
            import sf_heavy_pkg  # noqa: F401
        with phase("model_load"):
            import sf_light  # noqa: F401  (imported, but not in the imports phase)
        with phase("imports"):
            import sf_heavy_pkg.inner  # noqa: F401  (already there: nothing new)
    record = timing.as_dict()
    assert record["imported"] == ["sf_heavy_pkg"]
    assert {"imports_s", "model_load_s", "work_s"} <= set(record)


def test_outside_a_task_a_phase_only_runs_its_block():
    ran = []
    with phase("imports"):
        ran.append(1)
    assert ran == [1]
