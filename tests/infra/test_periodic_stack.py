"""A periodic task declared beside the Django code (cloudtasks.periodic) reaches the app
stack: a Cloud Scheduler job that starts its queue's worker with `run_task --periodic
NAME`, on both engines; a declaration the stack cannot serve is refused at synth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudtasks.periodic import InvalidPeriodic, Periodic
from stacks import periodic
from stacks.app_stack import app_schedules

from .synth import resources, synth_app_stack
from .test_app_stack import scheduled

ROOT = Path(__file__).resolve().parents[2]
WEEKLY = Periodic(
    "weekly-report", task="reports.tasks.weekly", schedule="every monday 09:00", time_zone="Europe/Paris",
    queue="long", args=[7], description="The week's report",
)


def with_weekly(engine):
    return synth_app_stack(declared=(*periodic.declared(), WEEKLY), engine=engine)


def test_a_declared_periodic_task_reaches_the_stack_on_each_engine(engine, snapshot_json):
    stack = with_weekly(engine)

    assert scheduled(stack, "djapp-weekly-report") == (
        "every monday 09:00", "Europe/Paris", "djapp-long", ["--periodic", "weekly-report"]
    )
    [weekly] = [s for s in resources(stack, "google_cloud_scheduler_job").values() if s["name"] == "djapp-weekly-report"]
    assert weekly["description"] == "The week's report"
    assert stack == snapshot_json


def test_the_project_declares_the_stacks_schedules_in_its_django_code():
    assert [(p.name, p.task, p.schedule, p.time_zone, p.queue) for p in periodic.declared()] == [
        ("every-minute", "cloudtasks.tasks.flush_outbox", "* * * * *", "UTC", "default"),
        ("prune-records", "cloudtasks.tasks.prune_records", "30 * * * *", "UTC", "default"),
    ]


def test_a_periodic_task_on_a_queue_without_a_worker_is_refused_at_synth():
    elsewhere = Periodic("reindex", task="search.tasks.reindex", schedule="0 * * * *", queue="search")

    with pytest.raises(InvalidPeriodic, match="'reindex' runs on queue 'search', which has no worker job .* "
                                              "its queues are default, long"):
        app_schedules((*periodic.declared(), elsewhere))


def test_a_project_that_declares_no_flush_is_refused_at_synth():
    without_flush = [p for p in periodic.declared() if p.task != "cloudtasks.tasks.flush_outbox"]

    with pytest.raises(InvalidPeriodic, match="no periodic task runs cloudtasks.tasks.flush_outbox: without the flush"):
        app_schedules(without_flush)


@pytest.mark.parametrize(("declaration", "problem"), [
    ('Periodic("x", task="a.tasks.b", schedule="every 5 fortnights")', "schedule 'every 5 fortnights': expected"),
    ('Periodic("x", task="a.tasks.b", schedule="* * * * *", time_zone="Mars/Olympus")', "time zone 'Mars/Olympus' is not"),
    ('Periodic("x y", task="a.tasks.b", schedule="* * * * *")', "name must be 1-100 letters, digits"),
    ('Periodic("x", task="b", schedule="* * * * *")', "task is 'b'; it must be the dotted path"),
    ('Periodic("x", task="a.tasks.b", schedule="* * * * *", args=[object()])', "args and kwargs must be JSON"),
    ('[Periodic("x", task="a.tasks.b", schedule="* * * * *")] * 2', "declares 'x' more than once"),
])
def test_a_bad_declaration_stops_synth_with_what_is_wrong(tmp_path, declaration, problem):
    declarations = tmp_path / "periodic.py"
    declarations.write_text(f"from cloudtasks.periodic import Periodic\nPERIODIC = {declaration}\n")

    with pytest.raises(InvalidPeriodic, match=f"{declarations}: Periodic 'x.*': |{declarations}: ") as refused:
        periodic.declared(declarations)
    assert problem in str(refused.value)


def test_main_refuses_a_bad_declaration_in_one_line(tmp_path, monkeypatch):
    # What `python main.py` prints: the file and the problem, not a traceback.
    declarations = tmp_path / "periodic.py"
    declarations.write_text('from cloudtasks.periodic import Periodic\nPERIODIC = (Periodic("x", task="a.tasks.b", '
                            'schedule="every 0 minutes"),)\n')
    code = (f"import stacks.periodic as p, pathlib; p.DECLARATIONS = pathlib.Path({str(declarations)!r}); "
            "import main; main.main()")

    refused = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert refused.returncode == 1
    said = f"main.py: {declarations}: Periodic 'x': schedule 'every 0 minutes': an interval is at least 1"
    assert [line for line in refused.stderr.splitlines() if line.startswith("main.py:")][0].startswith(said)
    assert "Traceback" not in refused.stderr
