"""torch gets every core on the CPU, whatever ultralytics' import and trainer set.

ultralytics sets ``OMP_NUM_THREADS=1`` when imported before torch and calls ``torch.set_num_threads(cpu_count - 1)``
when it picks the CPU: on a 2-core machine that is one thread, half the speed of training and inference.
"""

from __future__ import annotations

import os
import subprocess
import sys

from yardwatch.models.card import demo_weights_path
from yardwatch.models.loader import cpu_threads


def _run(code: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "YARDWATCH_OMP_NUM_THREADS")}
    full.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300,
                          check=True)
    return done.stdout.strip().splitlines()[-1]


def test_cpu_threads_is_every_core_unless_the_user_says():
    cores = len(os.sched_getaffinity(0))
    assert _run("from yardwatch.models.loader import cpu_threads; print(cpu_threads())") == str(cores)
    assert cpu_threads() >= 1


def test_the_users_omp_setting_survives_ultralytics_import():
    code = ("from yardwatch.models.loader import ensure_offline, cpu_threads; ensure_offline(); import ultralytics; "
            "print(cpu_threads())")
    assert _run(code, OMP_NUM_THREADS="1") == "1"


def test_load_model_on_cpu_undoes_ultralytics_single_thread():
    """ultralytics imported first (as a user script might): torch would run on one thread."""
    weights = demo_weights_path()
    code = ("import ultralytics, torch\n"
            "before = torch.get_num_threads()\n"
            "from yardwatch.models.loader import load_model\n"
            f"load_model({str(weights)!r}, 'cpu')\n"
            "print(before, torch.get_num_threads())")
    before, after = _run(code).split()
    assert int(before) == 1  # what ultralytics leaves (the reason for the fix)
    assert int(after) == len(os.sched_getaffinity(0))
