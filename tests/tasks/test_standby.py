"""tasks.sandbox.standby: the next test run's child is set up while the current one runs, and let go when its turn comes."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Course, leftovers, module

from tasks.core import layout
from tasks.sandbox import runner, standby, warm
from tasks.sandbox.spawn import expect_tests, prestart, prestart_if_changed, run_child

pytestmark = pytest.mark.skipif(not standby.enabled(), reason="no standby here (no fork, or a single core)")


def pytest_args(name: str) -> list[str]:
    return ["pytest", "--lib", "build/lib", "--stub", "pkg", "--", f"tests/{name}", "-q", "-p", "no:cacheprovider"]


@pytest.fixture
def course(repo: Path) -> Iterator[Path]:
    (repo / "tests").mkdir()
    (repo / "tests/test_first.py").write_text("def test_first():\n    assert True\n")
    (repo / "tests/test_second.py").write_text("from pkg.m import VALUE\n\n\ndef test_value():\n    assert VALUE == 1\n")
    module(repo, "VALUE = 1\n")
    yield repo
    standby.drop()


def sees_the_export(course: Path, value: int) -> None:
    """An export (VALUE = value) after the standby started: the run takes the standby and tests the new code."""
    module(course, f"VALUE = {value}\n")
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED
    assert f"assert {value} == 1" in second.output


def learn(course: Path) -> None:
    """Run first, then second: the build now knows that second follows first."""
    for name in ("test_first.py", "test_second.py"):
        outcome = run_child(course, pytest_args(name), 60)
        assert outcome.result is not None and outcome.result["exit_code"] == 0, outcome


def read_by_the_standby_of_second(course: Path) -> list[str]:
    """Run first; then what the standby of second (the one waiting) says it read, once it has collected."""
    run_child(course, pytest_args("test_first.py"), 60)
    (waiting,) = standby._state.waiting
    for _ in range(100):
        if waiting.ahead and waiting.listing.exists():
            break
        time.sleep(0.05)
    assert waiting.ahead
    read: list[str] = json.loads(waiting.listing.read_text())
    return read


def children_of_worker() -> list[int]:
    """The worker's live children: a run's child says it is done before its exit, so one may still be on its way out.

    The standbys waiting are forked first (the parent does not wait for that when it asks for one)."""
    for ready in standby._state.waiting:
        ready.child.forked()
    pid = warm.worker_pid()
    assert pid is not None
    alive: dict[int, str] = {}
    for _ in range(40):
        alive = {}
        for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            try:
                state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # reaped meanwhile
            if state != "Z":
                alive[int(p)] = state
        if all(state == "S" for state in alive.values()):  # standbys wait on their go pipe
            break
        time.sleep(0.05)
    return list(alive)


def test_the_run_that_followed_last_time_is_set_up_and_collected_in_advance(course: Path) -> None:
    imported = course.parent / f"{course.name}-imported.txt"  # outside the course: a write there is not restored
    module(course, f"open({str(imported)!r}, 'a').write('imported ')\nVALUE = 1\n")
    learn(course)
    imported.unlink()
    first = run_child(course, pytest_args("test_first.py"), 60)
    assert first.result is not None and "standby" not in first.result
    assert len(children_of_worker()) == 1  # the standby for the second run, waiting for its go
    for _ in range(100):
        if imported.exists():
            break
        time.sleep(0.05)
    assert imported.read_text() == "imported "  # it collected: the package and the tests are imported already
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second
    assert (second.result["passed"], second.result["failed"]) == (1, 0)
    assert imported.read_text() == "imported "  # not again
    took = re.search(r"1 passed in ([0-9.]+)s", second.output)
    assert took is not None and float(took[1]) < 1.5 and second.result["seconds"] < 1.5  # counted from the go


def test_an_export_while_a_standby_waited_means_a_fresh_child_with_the_code_of_now(course: Path) -> None:
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    assert len(children_of_worker()) == 1
    time.sleep(1.0)  # it has collected the tests against VALUE = 1
    module(course, "VALUE = 2\n")
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and "standby" not in second.result, second
    assert (second.result["passed"], second.result["failed"]) == (0, 1)
    assert "assert 2 == 1" in second.output


def test_an_export_while_a_standby_waited_is_seen_when_build_is_a_symlink_to_another_disk(course: Path) -> None:
    elsewhere = course.parent / f"{course.name}-disk"
    (course / "build").rename(elsewhere)
    (course / "build").symlink_to(elsewhere)  # as the read-only-disk message suggests
    (course / "build/lib/pkg/other.py").write_text("OTHER = 0\n")
    learn(course)
    read = read_by_the_standby_of_second(course)
    assert str(elsewhere.resolve() / "lib/pkg/m.py") in read
    (course / "build/lib/pkg/other.py").write_text("OTHER = 1\n")  # not read by its tests
    module(course, "VALUE = 3\n")  # read by them: the standby is not used
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and "standby" not in second.result, second
    assert "assert 3 == 1" in second.output


def test_a_package_file_its_tests_never_read_may_change_meanwhile(course: Path) -> None:
    (course / "build/lib/pkg/__init__.py").write_text("")
    (course / "build/lib/pkg/other.py").write_text("OTHER = 0\n")
    learn(course)
    read = read_by_the_standby_of_second(course)
    assert str(course.resolve() / "build/lib/pkg/m.py") in read
    (course / "build/lib/pkg/__init__.py").write_text("from pkg.m import VALUE\n")  # `init`; a stub here
    (course / "build/lib/pkg/other.py").write_text("OTHER = 1\n")  # another module's export
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second


def test_a_module_that_appeared_while_a_standby_waited_means_a_fresh_child(course: Path) -> None:
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    time.sleep(1.0)  # it has collected
    (course / "build/lib/pkg/new.py").write_text("NEW = 1\n")  # its tests may import it; they could not then
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and "standby" not in second.result, second


def test_a_standby_that_ends_before_its_go_means_a_fresh_run_and_no_standby_again(course: Path) -> None:
    learn(course)
    (course / "tests/test_second.py").write_text("import os\nos._exit(3)\n")  # at collection
    standby.drop()  # the standby of the learning saw the file before
    run_child(course, pytest_args("test_first.py"), 60)
    time.sleep(1.0)  # it has collected, and ended
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert (second.result, second.returncode) == (None, 3), second
    assert len(json.loads(layout.at(course, layout.NEXT_RUNS).read_text())["stale"]) == 1


def test_a_standby_waits_through_another_run_and_is_dropped_at_the_end_leaving_nothing(course: Path) -> None:
    (course / "tests/test_third.py").write_text("def test_third():\n    assert True\n")
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    (waiting,) = children_of_worker()
    third = run_child(course, pytest_args("test_third.py"), 60)  # doit's order differs a little this time
    assert third.result is not None and third.result["exit_code"] == 0 and "standby" not in third.result
    assert waiting in children_of_worker()
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED
    run_child(course, pytest_args("test_first.py"), 60)  # a new build: third, then second followed it last time
    assert [r.planned.files for r in standby._state.waiting] == [("tests/test_third.py",), ("tests/test_second.py",)]
    pids = {pid_of(r) for r in standby._state.waiting}
    standby.drop()  # at exit
    for _ in range(50):
        if not pids & set(children_of_worker()):
            break
        time.sleep(0.05)
    else:
        pytest.fail("a dropped standby is still alive")
    assert leftovers(course) == ["state/next-runs.json", "state/originals"]  # no private folder, no result file


def test_a_conftest_changed_while_it_waited_means_a_fresh_child(course: Path) -> None:
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    time.sleep(0.01)
    (course / "tests/conftest.py").write_text("import pytest\n\n\n@pytest.fixture\ndef seven():\n    return 7\n")
    (course / "tests/test_second.py").write_text("def test_value(seven):\n    assert seven == 7\n")
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["exit_code"] == 0, second.output
    assert "standby" not in second.result


def test_a_conftest_that_imports_the_package_is_no_matter_for_a_standby_that_collects_ahead(course: Path) -> None:
    (course / "tests/conftest.py").write_text("from pkg.m import VALUE  # noqa: F401\n")
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second


def test_in_the_watch_a_conftest_that_imports_the_package_makes_the_run_afresh_and_not_stood_by_for_again(
        course: Path) -> None:
    (course / "tests/conftest.py").write_text("from pkg.m import VALUE  # noqa: F401\n")
    learn(course)
    standby._state.root = None  # a new process (`doit watch`)
    expect_tests(course, ("tests/test_second.py",))  # it collects after its go: the save is exported in between
    time.sleep(1.0)
    module(course, "VALUE = 3\n")
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and "standby" not in second.result
    assert "assert 3 == 1" in second.output  # the code of now, not the code the standby's conftest saw
    kept = json.loads(layout.at(course, layout.NEXT_RUNS).read_text())
    assert len(kept["stale"]) == 1
    expect_tests(course, ("tests/test_second.py",))
    assert children_of_worker() == []  # not stood by for again


def test_a_standby_times_out_from_its_go_and_dumps_the_stack_of_the_loop(course: Path) -> None:
    stack = course / "stack.txt"
    args = pytest_args("test_second.py")
    args[args.index("--"):args.index("--")] = ["--stack", str(stack), "--stack-after", "1.5"]
    (course / "tests/test_second.py").write_text("def test_value():\n    while True:\n        pass\n")
    run_child(course, pytest_args("test_first.py"), 60)
    run_child(course, args, 3)  # learned: second follows first
    stack.unlink()  # as the test step does before each run
    run_child(course, pytest_args("test_first.py"), 60)
    time.sleep(2)  # longer than the dump's delay: it is armed at the go, not when the standby started
    assert not stack.exists() or stack.read_text() == ""
    start = time.monotonic()
    outcome = run_child(course, args, 3)
    assert outcome.timed_out and 2.5 < time.monotonic() - start < 10
    assert re.search(r'test_second.py", line [23] in test_value', stack.read_text())  # the loop, where it was


@pytest.mark.parametrize("setting", [(standby.STANDBY_ENV, "0"), ("COURSE_UNTRUSTED", "1")])
def test_no_standby_when_switched_off_or_when_the_code_is_untrusted(course: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   setting: tuple[str, str]) -> None:
    learn(course)
    monkeypatch.setenv(*setting)
    run_child(course, pytest_args("test_first.py"), 60)
    assert children_of_worker() == []
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and "standby" not in second.result


def test_a_check_before_the_first_test_run_stands_by_for_it(course: Path) -> None:
    learn(course)
    standby._state.root = None  # a new doit process: its first test run was test_first last time
    outcome = run_child(course, ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"], 60)
    assert outcome.result is not None and outcome.result["status"] == "ok"
    assert [r.planned.files for r in standby._state.waiting] == [("tests/test_first.py",)]  # the next ones: later
    assert len(children_of_worker()) == 1
    first = run_child(course, pytest_args("test_first.py"), 60)
    assert first.result is not None and first.result["standby"] == runner.USED
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED


def test_the_worker_serves_a_run_while_a_standby_waits(course: Path) -> None:
    module(course, "VALUE = 1\nimport os\nassert os.getsid(0) == os.getpid()\n")
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    assert len(children_of_worker()) == 1
    for _ in range(2):  # checks between the two test runs, through the same worker
        outcome = run_child(course, ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"], 60)
        assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    assert warm.mode() == "fork" and os.environ.get(standby.STANDBY_ENV) is None
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED
    assert (second.result["passed"], second.result["failed"]) == (1, 0)


def test_the_watch_stands_by_for_the_saved_modules_tests_as_they_were_last_planned(course: Path) -> None:
    learn(course)
    standby._state.root = None  # a new process (`doit watch`): nothing learned in it yet
    expect_tests(course, ("tests/test_never_run.py",))
    assert standby._state.waiting == []  # never planned: nothing to stand by for
    expect_tests(course, ("tests/test_second.py",))
    assert len(children_of_worker()) == 1
    sees_the_export(course, 6)


def test_the_watch_replaces_a_standby_that_collected_ahead_by_one_that_collects_after_its_go(course: Path) -> None:
    learn(course)
    run_child(course, pytest_args("test_first.py"), 60)
    (ahead,) = standby._state.waiting
    assert ahead.ahead
    replaced = pid_of(ahead)
    expect_tests(course, ("tests/test_second.py",))  # the save: its module is exported before the run
    (later,) = standby._state.waiting
    assert not later.ahead and pid_of(later) != replaced
    sees_the_export(course, 7)


def test_a_standby_sets_up_niced_and_runs_its_tests_at_the_priority_it_had(course: Path) -> None:
    learn(course)
    seen = course.parent / f"{course.name}-nice.txt"  # outside the course: a test's write there is not restored
    (course / "tests/conftest.py").write_text(f"import os\nopen({str(seen)!r}, 'a').write(str(os.nice(0)) + ' ')\n")
    learn(course)  # again: the conftest changed, so the standby of the first learning is not used
    (course / "tests/test_second.py").write_text(f"import os\n\n\ndef test_value():\n"
                                               f"    open({str(seen)!r}, 'a').write(str(os.nice(0)))\n")
    seen.unlink()
    run_child(course, pytest_args("test_first.py"), 60)
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second.output
    setting_up, testing = seen.read_text().split()[-2:]  # the second run's conftest, then its test
    mine = os.nice(0)
    assert int(setting_up) == max(mine, runner.STANDBY_NICE)
    assert int(testing) == (mine if os.geteuid() == 0 else max(mine, runner.STANDBY_NICE))


def pid_of(ready: standby.Ready) -> int:
    """A standby's pid, once the worker has forked it (its request is not waited for)."""
    assert ready.child.forked()
    pid: int = ready.child.pid
    return pid


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_a_run_stands_by_for_the_next_runs_the_nearer_at_the_higher_priority(course: Path) -> None:
    (course / "tests/test_third.py").write_text("def test_third():\n    assert True\n")
    for name in ("test_first.py", "test_second.py", "test_third.py"):  # the last build's order
        run_child(course, pytest_args(name), 60)
    standby.drop()
    standby._state.root = None  # a new build, in a new process
    run_child(course, pytest_args("test_first.py"), 60)
    waiting = {r.planned.files[0]: r for r in standby._state.waiting}
    assert sorted(waiting) == ["tests/test_second.py", "tests/test_third.py"]  # not the first: it ran already
    for name, rank in (("tests/test_second.py", 0), ("tests/test_third.py", 1)):
        for _ in range(100):  # its runner sets its priority as it starts
            if nice_of(pid_of(waiting[name])) == max(os.nice(0), standby.NICE[rank]):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the standby for {name} sets up at nice {nice_of(pid_of(waiting[name]))}")
    # doit's order differs a little this time: third comes before second, and both take their standby
    for name in ("test_third.py", "test_second.py"):
        outcome = run_child(course, pytest_args(name), 60)
        assert outcome.result is not None and outcome.result["standby"] == runner.USED, (name, outcome)
    assert standby._state.waiting == []  # the chain came round to the first, which this build ran already


def check_args() -> list[str]:
    return ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"]


def new_build_that_began_with_second(course: Path) -> None:
    """The last build ran second, then first; this is a new doit process."""
    for name in ("test_second.py", "test_first.py"):
        run_child(course, pytest_args(name), 60)
    standby.drop()
    standby._state.root = None


def test_a_build_stands_by_for_its_first_test_run_before_its_export_and_it_collects_at_the_check(
        course: Path) -> None:
    new_build_that_began_with_second(course)
    prestart(course)  # the first export (or notebook sync) of the build begins
    (early,) = standby._state.waiting
    assert early.planned.files == ("tests/test_second.py",) and not early.ahead
    module(course, "VALUE = 4\n")  # the export
    outcome = run_child(course, check_args(), 60)  # its check: the standby collects the package of now
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    assert early.ahead
    for _ in range(100):
        if early.listing.exists():
            break
        time.sleep(0.05)
    assert str((course / "build/lib/pkg/m.py").resolve()) in json.loads(early.listing.read_text())
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second.output
    assert "assert 4 == 1" in second.output


def test_a_standby_set_up_before_the_export_whose_conftest_imported_the_package_is_not_used(course: Path) -> None:
    (course / "tests/conftest.py").write_text("from pkg.m import VALUE  # noqa: F401\n")
    new_build_that_began_with_second(course)
    prestart(course)
    time.sleep(1.0)  # set up: its conftest imported the package as it was before the export
    module(course, "VALUE = 5\n")
    run_child(course, check_args(), 60)  # told to collect: it says it is stale, and ends
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and "standby" not in second.result
    assert "assert 5 == 1" in second.output  # the code of now
    assert len(json.loads(layout.at(course, layout.NEXT_RUNS).read_text())["stale"]) == 1


def test_a_standby_asked_for_while_the_worker_imports_is_forked_once_it_is_ready(course: Path) -> None:
    new_build_that_began_with_second(course)
    warm.stop()  # a new doit process: no worker yet
    prestart(course)
    (early,) = standby._state.waiting
    assert early.child._pid is None  # its request waits in the worker's socket
    module(course, "VALUE = 6\n")
    run_child(course, check_args(), 60)  # (waits for the worker)
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second.output
    assert "assert 6 == 1" in second.output


def test_a_standby_dropped_before_the_worker_forked_it_ends_by_itself_leaving_nothing(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new_build_that_began_with_second(course)
    warm.stop()
    prestart(course)
    standby.drop()  # e.g. the export failed, and doit ends
    assert leftovers(course) == ["state/next-runs.json", "state/originals"]
    monkeypatch.setenv(standby.STANDBY_ENV, "0")  # (the check would stand by for second again)
    outcome = run_child(course, check_args(), 60)  # the worker gets ready, forks it, and it reads its closed pipe
    assert outcome.result is not None and outcome.result["status"] == "ok"
    for _ in range(100):
        if children_of_worker() == []:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the dropped standby is still alive: {children_of_worker()}")
    assert leftovers(course) == ["state/next-runs.json", "state/originals"]


def test_a_run_starts_the_worker_early_only_when_a_file_the_student_edits_changed_since_the_last_run(
        course: Path) -> None:
    new_build_that_began_with_second(course)
    warm.stop()
    source, last = course / "tests/test_second.py", course / "timings.json"
    last.write_text("{}")
    os.utime(source, ns=(last.stat().st_mtime_ns - 10**9,) * 2)
    edits = [([str(course / "missing.py"), str(source)], ("tests/test_second.py",))]
    assert not prestart_if_changed(course, edits, last)
    assert warm.worker_pid() is None and standby._state.waiting == []
    os.utime(source, ns=(last.stat().st_mtime_ns + 10**9,) * 2)
    assert prestart_if_changed(course, edits, last)
    assert warm.worker_pid() is not None and [r.planned.files for r in standby._state.waiting] == [
        ("tests/test_second.py",)]
    standby.drop()
    assert prestart_if_changed(course, edits, course / "never-ran.json")  # no run yet: all is to be done


def test_the_first_test_run_stood_by_for_is_the_first_edited_modules_not_the_last_builds_first(
        course: Path) -> None:
    new_build_that_began_with_second(course)  # the student worked on second's module last time
    last = course / "timings.json"
    last.write_text("{}")
    first, second = course / "tests/test_first.py", course / "tests/test_second.py"
    os.utime(second, ns=(last.stat().st_mtime_ns - 10**9,) * 2)
    os.utime(first, ns=(last.stat().st_mtime_ns + 10**9,) * 2)  # and now on first's
    edits = [([str(first)], ("tests/test_first.py",)), ([str(second)], ("tests/test_second.py",))]
    assert prestart_if_changed(course, edits, last)
    (early,) = standby._state.waiting
    assert early.planned.files == ("tests/test_first.py",) and not early.ahead
    run_child(course, check_args(), 60)  # the check after its export: it collects
    assert standby._state.waiting == [early]  # and the last build's first run is not stood by for
    outcome = run_child(course, pytest_args("test_first.py"), 60)
    assert outcome.result is not None and outcome.result["standby"] == runner.USED, outcome.output


def test_dodo_starts_the_worker_as_it_loads_only_for_a_run_of_the_loop_after_an_edit(built: Course) -> None:
    with built.path("dodo.py").open("a") as dodo:
        dodo.write("\nfrom tasks.sandbox import warm as _warm\n\nprint('worker at load:', _warm.worker_pid() is not None)\n")
    source = built.path(next(str(m["source"]) for m in yaml.safe_load(built.read("modules.yaml"))["modules"]))

    def edit() -> None:
        time.sleep(0.01)
        source.write_text(source.read_text() + "\n")

    def started(*args: str) -> bool:
        run = built.cli(*args)
        assert run.returncode == 0, run.stdout + run.stderr
        return "worker at load: True" in run.stdout

    edit()
    started()  # a run of the console reporter: it keeps build/results/timings.json, stamped as the run ends
    assert not started()  # nothing changed since the last run
    edit()
    assert not started("list")
    assert not started("report")  # no test runs in it
    assert not started("-n", "2", "validate")  # each of doit's processes starts its own
    edit()
    assert started()
    assert not started()  # that run was the last one: nothing changed since


def test_the_watchs_standby_collects_at_the_saved_modules_check(course: Path) -> None:
    learn(course)
    standby._state.root = None  # a new process (`doit watch`)
    expect_tests(course, ("tests/test_second.py",))  # the save
    (saved,) = standby._state.waiting
    assert not saved.ahead
    module(course, "VALUE = 8\n")  # its export
    run_child(course, check_args(), 60)  # its check
    assert saved.ahead
    second = run_child(course, pytest_args("test_second.py"), 60)
    assert second.result is not None and second.result["standby"] == runner.USED, second.output
    assert "assert 8 == 1" in second.output
