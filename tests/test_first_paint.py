"""What the dashboard computes for its first frame builds no pydantic machinery (timings are in `make bench`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from pathlib import Path
from gymconsole.config_cache import load_config_cached
config = load_config_cached(sys.argv[1], cache_dir=Path(sys.argv[2]))
tasks = {name: config.task_for(name) for name in config.workflows}
built = "pydantic.plugin._loader" in sys.modules  # pydantic imports it when it builds a schema
expected = {name: workflow.task.format(**config.thresholds.model_dump()) for name, workflow in config.workflows.items()}
print(json.dumps({"built": built, "same": tasks == expected}))
"""


def test_the_selected_workflows_task_is_shown_without_building_a_schema(tmp_path: Path) -> None:
    """The dashboard's first frame shows the selected workflow's task with its thresholds filled in; from a cached
    configuration that must not build the thresholds' serializer (pydantic loads importlib.metadata to do it)."""
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    reports = []
    for _ in range(2):  # the first run validates and caches; the second is the console's usual start
        result = subprocess.run([sys.executable, "-c", PROBE, str(config), str(tmp_path / "cache")],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        reports.append(json.loads(result.stdout.splitlines()[-1]))
    assert reports[1] == {"built": False, "same": True}
