"""tasks.model.manifest: every manifest problem, with its exact message and place (SPEC 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.core.errors import ManifestError
from tasks.model.manifest import DEFAULT_TIMEOUT, Manifest, parse_manifest, read_manifest
from tasks.model.yamlpos import YamlSyntaxError, load

# lines: 1 package, 2 name, 3 modules, 4-7 module a, 8-12 module b
BASE = """\
package:
  name: pkg
modules:
  - name: a
    source: src/a.py
    target: pkg.a
    tests: []
  - name: b
    source: src/b.py
    target: pkg.b
    depends: [a]
    tests: []
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with the files the manifests below name, and a symlink that leads out of it."""
    root = tmp_path_factory.mktemp("manifest") / "repo"
    for rel in ("src/a.py", "src/b.py", "src/c.py", "src/notes.txt", "tests/unit/test_c.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("", encoding="utf-8")
    (root / "build").mkdir()
    (root.parent / "outside.py").write_text("", encoding="utf-8")
    os.symlink(root.parent / "outside.py", root / "src" / "link.py")
    return root


def parse(text: str, root: Path) -> Manifest:
    data, positions = load(text)
    return parse_manifest(data, positions, root)


def test_base_manifest_is_valid(repo: Path) -> None:
    manifest = parse(BASE, repo)
    assert manifest.package == "pkg"
    assert manifest.lib == "build/lib"
    assert [m.name for m in manifest.modules] == ["a", "b"]
    assert manifest.graph == {"a": (), "b": ("a",)}
    b = manifest.by_name["b"]
    assert (b.source, b.target, b.depends, b.tests, b.timeout, b.coverage, b.line) == (
        "src/b.py", "pkg.b", ("a",), (), DEFAULT_TIMEOUT, None, 8)


def test_defaults_depends_all_and_default_tests(repo: Path) -> None:
    text = """\
package: {name: pkg, lib: build/out}
defaults: {timeout: 30, coverage: 75}
modules:
  - {name: a, source: src/a.py, target: pkg.a, tests: []}
  - {name: b, source: src/b.py, target: pkg.b, tests: [], timeout: 5, coverage: 0}
  - {name: c, source: src/c.py, target: pkg.sub.c, depends: all}
"""
    manifest = parse(text, repo)
    a, b, c = manifest.modules
    assert manifest.lib == "build/out"
    assert (a.timeout, a.coverage) == (30.0, 75.0)
    assert (b.timeout, b.coverage) == (5.0, 0.0)  # a coverage of 0 is a value, not "unset"
    assert c.depends == ("a", "b")
    assert c.tests == ("tests/unit/test_c.py",)  # the default test file, when it exists
    assert c.entry() == {"name": "c", "source": "src/c.py", "target": "pkg.sub.c", "depends": ["a", "b"],
                         "tests": ["tests/unit/test_c.py"], "timeout": 30.0, "coverage": 75.0,
                         "memory": 8192.0, "processes": 4096.0, "file_size": 1024.0, "cpu": None}


def test_tests_may_be_one_path(repo: Path) -> None:
    text = BASE.replace("  - name: b\n", "  - name: c\n    source: src/c.py\n    target: pkg.c\n"
                        "    tests: tests/unit/test_c.py\n  - name: b\n")
    assert parse(text, repo).by_name["c"].tests == ("tests/unit/test_c.py",)


BAD = [
    pytest.param(None, '',
                 "modules.yaml:1:1: the manifest is empty; declare the course under 'modules:' (see README, 'The manifest')", id='empty'),
    pytest.param(None, '# nothing here\n',
                 "modules.yaml:1:1: the manifest is empty; declare the course under 'modules:' (see README, 'The manifest')", id='comment only'),
    pytest.param(None, '- a\n- b\n',
                 'modules.yaml:1:1: the manifest must be a mapping with keys package, defaults, modules, grading; got a list', id='not a mapping'),
    pytest.param('modules:', 'module:',
                 "modules.yaml:1:1: no modules declared; add a list under 'modules:' with at least one entry (name, source, target)\nmodules.yaml:3:1: unknown key 'module' in the manifest; did you mean 'modules'?", id='top-level typo'),
    pytest.param('package:', 'extras: 1\npackage:',
                 "modules.yaml:1:1: unknown key 'extras' in the manifest; allowed keys: package, defaults, modules, grading", id='top-level unknown key'),
    pytest.param('package:\n  name: pkg\n', 'package: pkg\n',
                 "modules.yaml:1:10: 'package' must be a mapping with keys name, lib, files, got a string", id='package not a mapping'),
    pytest.param('  name: pkg\n', '  nmae: pkg\n',
                 "modules.yaml:2:3: unknown key 'nmae' in 'package'; did you mean 'name'?", id='package key typo'),
    pytest.param('name: pkg\n', 'name: 2pkg\n',
                 "modules.yaml:2:9: package name '2pkg' is not a valid Python identifier; use letters, digits and underscores, e.g. 'tinytorch'", id='package name not identifier'),
    pytest.param('  name: pkg\n', '  name: pkg\n  lib: /tmp/lib\n',
                 "modules.yaml:3:8: 'lib' '/tmp/lib' is absolute; write it relative to the repository root", id='lib absolute'),
    pytest.param('  name: pkg\n', '  name: pkg\n  lib: ../lib\n',
                 "modules.yaml:3:8: 'lib' '../lib' leaves the repository; keep it inside repo/", id='lib leaves'),
    pytest.param('  name: pkg\n', '  name: pkg\n  lib: src\n',
                 "modules.yaml:3:8: 'lib' 'src' must be under build/ (everything generated lives there)", id='lib outside build'),
    pytest.param('  name: pkg\n', '  name: pkg\n  lib: [build]\n',
                 "modules.yaml:3:8: 'lib' must be a path (a string), got a list", id='lib not a string'),
    pytest.param('modules:', 'defaults: 3\nmodules:',
                 "modules.yaml:3:11: 'defaults' must be a mapping, got a number", id='defaults not mapping'),
    pytest.param('modules:', 'defaults:\n  timeuot: 3\nmodules:',
                 "modules.yaml:4:3: unknown key 'timeuot' in 'defaults'; did you mean 'timeout'?", id='defaults key typo'),
    pytest.param('modules:', 'defaults:\n  timeout: soon\nmodules:',
                 "modules.yaml:4:12: 'timeout' must be a number, got a string ('soon'); write e.g. 'timeout: 60'", id='defaults timeout string'),
    pytest.param('modules:', 'defaults:\n  timeout: 0\nmodules:',
                 "modules.yaml:4:12: 'timeout' must be at least 1, got 0", id='defaults timeout too low'),
    pytest.param('modules:', 'defaults:\n  coverage: 150\nmodules:',
                 "modules.yaml:4:13: 'coverage' must be between 0 and 100, got 150", id='defaults coverage too high'),
    pytest.param('modules:', 'defaults:\n  coverage: yes\nmodules:',
                 "modules.yaml:4:13: 'coverage' must be a number, got a boolean (True); write e.g. 'coverage: 80'", id='defaults coverage bool'),
    pytest.param(None, 'package:\n  name: pkg\n',
                 "modules.yaml:1:1: no modules declared; add a list under 'modules:' with at least one entry (name, source, target)", id='no modules key'),
    pytest.param(None, 'package:\n  name: pkg\nmodules: []\n',
                 "modules.yaml:3:10: no modules declared; add a list under 'modules:' with at least one entry (name, source, target)", id='modules empty list'),
    pytest.param(None, 'package:\n  name: pkg\nmodules:\n  a: 1\n',
                 "modules.yaml:4:3: 'modules' must be a list of modules, got a mapping", id='modules a mapping'),
    pytest.param('  - name: b\n', '  - b\n  - name: b\n',
                 'modules.yaml:8:5: module #2 must be a mapping with keys name, source, target, got a string', id='module not a mapping'),
    pytest.param('    depends: [a]', '    depend: [a]',
                 "modules.yaml:11:5: unknown key 'depend' in module 'b'; did you mean 'depends'?", id='module key typo'),
    pytest.param('    depends: [a]', '    colour: red\n    depends: [a]',
                 "modules.yaml:11:5: unknown key 'colour' in module 'b'; allowed keys: name, source, target, depends, tests, timeout, coverage, public, memory, processes, file_size, cpu", id='module unknown key'),
    pytest.param('  - name: b\n    source: src/b.py', '  - source: src/b.py',
                 "modules.yaml:8:5: module #2 is missing 'name'; add 'name: <identifier>'", id='missing name'),
    pytest.param('    source: src/b.py\n', '',
                 "modules.yaml:8:5: module 'b' is missing 'source'; add 'source: modules/NN_b/b.py'", id='missing source'),
    pytest.param('    target: pkg.b\n', '',
                 "modules.yaml:8:5: module 'b' is missing 'target'; add 'target: pkg.core.b'", id='missing target'),
    pytest.param('name: b\n', 'name: my-module\n',
                 "modules.yaml:8:11: module name 'my-module' must be an identifier (letters, digits, underscores)", id='name not identifier'),
    pytest.param('name: b\n', 'name: 3\n',
                 'modules.yaml:8:11: module name 3 must be an identifier (letters, digits, underscores)', id='name a number'),
    pytest.param('name: b\n', 'name: a\n',
                 "modules.yaml:8:11: duplicate module name 'a' (first declared at line 4); rename one", id='duplicate name'),
    pytest.param('source: src/b.py', 'source: [src/b.py]',
                 "modules.yaml:9:13: module 'b': 'source' must be a path (a string), got a list", id='source not a string'),
    pytest.param('source: src/b.py', "source: ''",
                 "modules.yaml:9:13: module 'b': 'source' must be a path (a string), got an empty string", id='source empty'),
    pytest.param('source: src/b.py', 'source: /etc/passwd',
                 "modules.yaml:9:13: module 'b': 'source' '/etc/passwd' is absolute; write it relative to the repository root", id='source absolute'),
    pytest.param('source: src/b.py', 'source: ~/b.py',
                 "modules.yaml:9:13: module 'b': 'source' '~/b.py' is absolute; write it relative to the repository root", id='source home'),
    pytest.param('source: src/b.py', 'source: ../b.py',
                 "modules.yaml:9:13: module 'b': 'source' '../b.py' leaves the repository; keep it inside repo/", id='source leaves'),
    pytest.param('source: src/b.py', 'source: src/link.py',
                 "modules.yaml:9:13: module 'b': 'source' 'src/link.py' leaves the repository; keep it inside repo/", id='source symlink out'),
    pytest.param('source: src/b.py', 'source: src/notes.txt',
                 "modules.yaml:9:13: module 'b': source 'src/notes.txt' must be a jupytext percent .py or an .ipynb", id='source wrong suffix'),
    pytest.param('source: src/b.py', 'source: src/nope.py',
                 "modules.yaml:9:13: module 'b': source file 'src/nope.py' does not exist; create it or fix the path", id='source missing'),
    pytest.param('target: pkg.b', 'target: 3',
                 "modules.yaml:10:13: 'target' must be a dotted module path (a string), got a number", id='target not a string'),
    pytest.param('target: pkg.b', 'target: numpy.b',
                 "modules.yaml:10:13: target 'numpy.b' is outside the package; write it as 'pkg.<module>', e.g. 'pkg.core.b'", id='target outside package'),
    pytest.param('target: pkg.b', 'target: pkg',
                 "modules.yaml:10:13: target 'pkg' is the package itself; write it as 'pkg.<module>', e.g. 'pkg.core.name'", id='target is the package'),
    pytest.param('target: pkg.b', 'target: pkg.core.2b',
                 "modules.yaml:10:13: target 'pkg.core.2b': '2b' is not a valid Python identifier; use letters, digits and underscores, not starting with a digit", id='target not identifier'),
    pytest.param('target: pkg.b', 'target: pkg.class',
                 "modules.yaml:10:13: target 'pkg.class': 'class' is not a valid Python identifier; use letters, digits and underscores, not starting with a digit", id='target keyword'),
    pytest.param('target: pkg.b', 'target: pkg.a',
                 "modules.yaml:10:13: module 'b': target 'pkg.a' is already the target of module 'a'; each module needs its own target", id='duplicate target'),
    pytest.param('    target: pkg.a\n', '    target: pkg.a\n    depends: all\n',
                 "modules.yaml:7:14: module 'a': 'depends: all' on the first module means no module; write 'depends: []'", id='depends all on first'),
    pytest.param('depends: [a]', 'depends: 3',
                 "modules.yaml:11:14: module 'b': 'depends' must be a list of module names or the word 'all', got a number", id='depends a number'),
    pytest.param('depends: [a]', 'depends: [a, 3]',
                 "modules.yaml:11:18: module 'b': dependency must be a module name, got a number", id='depends item not a string'),
    pytest.param('depends: [a]', 'depends: [a, a]',
                 "modules.yaml:11:18: module 'b': dependency 'a' is listed twice; remove one", id='depends twice'),
    pytest.param('depends: [a]', 'depends: [aa]',
                 "modules.yaml:11:15: module 'b' depends on unknown module 'aa'; did you mean 'a'?", id='unknown dependency'),
    pytest.param('depends: [a]', 'depends: [zebra]',
                 "modules.yaml:11:15: module 'b' depends on unknown module 'zebra'", id='unknown dependency no guess'),
    pytest.param('depends: [a]', 'depends: [a, b]',
                 "modules.yaml:11:18: module 'b' depends on itself; remove 'b' from its 'depends'", id='self dependency'),
    pytest.param('    target: pkg.a\n', '    target: pkg.a\n    depends: [b]\n',
                 'modules.yaml:7:14: dependency cycle: a -> b -> a; remove one of these dependencies', id='cycle'),
    pytest.param(None, 'package:\n  name: pkg\nmodules:\n  - name: b\n    source: src/b.py\n    target: pkg.b\n    depends: [a]\n    tests: []\n  - name: a\n    source: src/a.py\n    target: pkg.a\n    tests: []\n',
                 "modules.yaml:7:15: module 'b' is listed before its dependency 'a' (line 9); move 'a' above 'b' so the course can be taught in order", id='listed later'),
    pytest.param('    depends: [a]\n    tests: []', '    depends: [a]\n    tests: 3',
                 "modules.yaml:12:12: module 'b': 'tests' must be a path or a list of paths, got a number", id='tests a number'),
    pytest.param('    depends: [a]\n    tests: []', '    depends: [a]\n    tests: [tests/unit/test_nope.py]',
                 "modules.yaml:12:13: module 'b': test file 'tests/unit/test_nope.py' does not exist; create it or fix the path", id='tests file missing'),
    pytest.param('    depends: [a]\n    tests: []', '    depends: [a]\n    tests: tests/unit/test_nope.py',
                 "modules.yaml:12:12: module 'b': test file 'tests/unit/test_nope.py' does not exist; create it or fix the path", id='tests string missing'),
    pytest.param('    depends: [a]\n    tests: []', '    depends: [a]\n    tests: [../test_b.py]',
                 "modules.yaml:12:13: module 'b': test file '../test_b.py' leaves the repository; keep it inside repo/", id='tests leave'),
    pytest.param('    depends: [a]\n    tests: []', '    depends: [a]',
                 "modules.yaml:8:11: module 'b': test file 'tests/unit/test_b.py' does not exist; create it, or declare 'tests:' (a list of files, or [] for none)", id='default tests missing'),
    pytest.param('    depends: [a]', "    depends: [a]\n    timeout: '10'",
                 "modules.yaml:12:14: 'timeout' must be a number, got a string ('10'); write e.g. 'timeout: 60'", id='module timeout string'),
    pytest.param('    depends: [a]', '    depends: [a]\n    coverage: -1',
                 "modules.yaml:12:15: 'coverage' must be between 0 and 100, got -1", id='module coverage negative'),
    pytest.param('depends: [a]', 'depends: [aa]\n    tmeout: 3',
                 "modules.yaml:11:15: module 'b' depends on unknown module 'aa'; did you mean 'a'?\nmodules.yaml:12:5: unknown key 'tmeout' in module 'b'; did you mean 'timeout'?", id='many at once'),
    # the optional `grading:` section (tasks.model.grading), read by `doit grade`
    pytest.param('modules:', 'grading: [a]\nmodules:',
                 "modules.yaml:3:10: 'grading' must be a mapping with keys hidden_tests, points", id='grading not a mapping'),
    pytest.param('modules:', 'grading:\n  hiden_tests: none\nmodules:',
                 "modules.yaml:4:3: unknown key 'hiden_tests' in 'grading'; did you mean 'hidden_tests'?", id='grading key typo'),
    pytest.param('modules:', 'grading:\n  hidden_tests: all\nmodules:',
                 "modules.yaml:4:17: 'hidden_tests' must be one of names, none, got 'all'", id='grading hidden choice'),
    pytest.param('modules:', 'grading:\n  points: {aa: 1, b: -2}\nmodules:',
                 "modules.yaml:4:12: 'points' names 'aa', which is not a module; did you mean 'a'?\n"
                 "modules.yaml:4:22: points of 'b' must be a number >= 0, got -2", id='grading points'),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_manifest(repo: Path, old: str | None, new: str, message: str) -> None:
    if old is None:
        text = new
    else:
        assert old in BASE
        text = BASE.replace(old, new)
    with pytest.raises(ManifestError) as exc:
        parse(text, repo)
    assert str(exc.value) == message


def test_all_problems_are_reported_at_once_sorted_by_line(repo: Path) -> None:
    text = BASE.replace("target: pkg.a", "target: pkg.2a").replace("depends: [a]", "depends: [a, b]") \
        .replace("source: src/b.py", "source: src/nope.py")
    with pytest.raises(ManifestError) as exc:
        parse(text, repo)
    assert str(exc.value).splitlines() == [
        "modules.yaml:6:13: target 'pkg.2a': '2a' is not a valid Python identifier; use letters, digits and "
        "underscores, not starting with a digit",
        "modules.yaml:9:13: module 'b': source file 'src/nope.py' does not exist; create it or fix the path",
        "modules.yaml:11:18: module 'b' depends on itself; remove 'b' from its 'depends'",
    ]


def test_a_longer_cycle_is_printed_as_a_path(repo: Path) -> None:
    text = """\
package: {name: pkg}
modules:
  - {name: a, source: src/a.py, target: pkg.a, tests: [], depends: [c]}
  - {name: b, source: src/b.py, target: pkg.b, tests: [], depends: [a]}
  - {name: c, source: src/c.py, target: pkg.c, tests: [], depends: [b]}
"""
    with pytest.raises(ManifestError) as exc:
        parse(text, repo)
    assert str(exc.value) == ("modules.yaml:3:68: dependency cycle: a -> c -> b -> a; "
                              "remove one of these dependencies")


READ_BAD = [
    pytest.param(None, "modules.yaml: not found in {root}; create it (see README, 'The manifest')", id="missing file"),
    pytest.param(b"package:\n  name: pkg\n# caf\xe9\n",
                 "modules.yaml:3:6: not valid UTF-8 (byte 0xe9); save the file as UTF-8", id="not UTF-8"),
    pytest.param(b"modules:\n  - name: a\n   source: x\n",
                 "modules.yaml:3:4: invalid YAML: did not find expected '-' indicator", id="bad indentation"),
    pytest.param(b"modules: [a\n",
                 "modules.yaml:2:1: invalid YAML: did not find expected ',' or ']'", id="unclosed list"),
    pytest.param(b"package:\n  name: pkg\npackage:\n  name: other\n",
                 "modules.yaml:3:1: duplicate key 'package': remove one of them", id="duplicate key"),
    pytest.param(b"modules: !!python/object/apply:os.system ['true']\n",
                 "modules.yaml:1:10: invalid YAML: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not "
                 "allowed (safe loading); remove it", id="unsafe tag on a list"),
    pytest.param(b"package:\n  name: !!python/name:os.system\n",
                 "modules.yaml:2:9: invalid YAML: could not determine a constructor for the tag "
                 "'tag:yaml.org,2002:python/name:os.system'", id="unsafe tag on a value"),
    pytest.param(b"package:\n  ? [a, b]\n  : 1\n",
                 "modules.yaml:2:5: a key must be a plain word, not list; write 'name: value'", id="list as a key"),
]


@pytest.mark.parametrize(("raw", "message"), READ_BAD)
def test_read_manifest_errors(tmp_path: Path, raw: bytes | None, message: str) -> None:
    if raw is not None:
        (tmp_path / "modules.yaml").write_bytes(raw)
    with pytest.raises(ManifestError) as exc:
        read_manifest(tmp_path)
    assert str(exc.value) == message.format(root=tmp_path.resolve())


def test_read_manifest_accepts_a_bom_and_crlf(repo: Path) -> None:
    (repo / "modules.yaml").write_bytes(b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode())
    try:
        manifest = read_manifest(repo)
    finally:
        (repo / "modules.yaml").unlink()
    assert [m.name for m in manifest.modules] == ["a", "b"]
    assert manifest.root == repo


# -- issue 14: keys for courses of any shape -------------------------------------------------------
ANY_COURSE = [
    pytest.param("    tests: []\n  - name: b", "    tests: []\n    public: some\n  - name: b",
                 "modules.yaml:8:13: module 'a': 'public' must be one of 'all', 'none', '__all__' or a list of names, "
                 "got 'some'; e.g. 'public: [Tensor, zeros]'", id="public policy"),
    pytest.param("  name: pkg\n", "  name: pkg\n  files: {py.typed: src/nope.typed}\n",
                 "modules.yaml:3:21: 'files' entry 'py.typed': 'src/nope.typed' does not exist; create it or fix the path",
                 id="extra file missing"),
    pytest.param("  name: pkg\n", "  name: pkg\n  files: {a.py: src/notes.txt}\n",
                 "modules.yaml:3:17: 'files': 'a.py' is also where module 'a' is exported (line 7); rename the file "
                 "or the module's target", id="extra file on a module"),
    pytest.param("    target: pkg.b\n", "    target: pkg.a.b\n",
                 "modules.yaml:10:13: module 'b': target 'pkg.a.b' needs 'pkg.a' to be a package, but 'pkg.a' is the "
                 "target of module 'a' (line 6), a file; a module and a package cannot share a name: rename one target "
                 "(e.g. 'pkg.a.a')", id="a module that is also a package"),
    pytest.param("package:\n  name: pkg\n", "package:\n  lib: build/lib\n",
                 "modules.yaml:2:3: the package is not named; add 'package: {name: <import name>}' (the one place the "
                 "package is named)", id="package not named"),
]


@pytest.mark.parametrize(("old", "new", "message"), ANY_COURSE)
def test_any_course_keys(repo: Path, old: str, new: str, message: str) -> None:
    assert old in BASE
    with pytest.raises(ManifestError) as info:
        parse(BASE.replace(old, new, 1), repo)
    assert str(info.value) == message


def test_public_and_files_are_read(repo: Path) -> None:
    text = BASE.replace("  name: pkg\n", "  name: pkg\n  files: {py.typed: src/notes.txt}\n").replace(
        "    tests: []\n  - name: b", "    tests: []\n    public: [x, y]\n  - name: b")
    m = parse(text, repo)
    assert m.files == (("py.typed", "src/notes.txt"),)
    assert [x.public for x in m.modules] == [("x", "y"), "all"]
    assert m.modules[0].entry()["public"] == ["x", "y"] and "public" not in m.modules[1].entry()


# issue 15, item 8: inputs that ended in a traceback, or were accepted and then crashed or misbehaved
HARDENED = [
    pytest.param('    depends: [a]', '    depends: [a]\n    timeout: .inf',
                 "modules.yaml:12:14: 'timeout' must be a finite number, got inf; write e.g. 'timeout: 60'", id='timeout inf'),
    pytest.param('    depends: [a]', '    depends: [a]\n    timeout: .nan',
                 "modules.yaml:12:14: 'timeout' must be a finite number, got nan; write e.g. 'timeout: 60'", id='timeout nan'),
    pytest.param('    depends: [a]', '    depends: [a]\n    timeout: 100000000',
                 "modules.yaml:12:14: 'timeout' must be at most 86400 s, got 1e+08; write e.g. 'timeout: 60'", id='timeout huge'),
    pytest.param('    depends: [a]', '    depends: [a]\n    coverage: .nan',
                 "modules.yaml:12:15: 'coverage' must be a finite number, got nan; write e.g. 'coverage: 80'", id='coverage nan'),
    pytest.param('modules:', 'defaults:\n  memory: 10\nmodules:',
                 "modules.yaml:4:11: 'memory' must be at least 64, got 10", id='memory too small'),
    pytest.param('modules:', 'defaults:\n  processes: many\nmodules:',
                 "modules.yaml:4:14: 'processes' must be a number, got a string ('many'); write e.g. 'processes: 256'", id='processes string'),
    pytest.param('    depends: [a]', '    depends: [a]\n    cpu: 1000000000',
                 "modules.yaml:12:10: 'cpu' must be at most 86400 s, got 1e+09; write e.g. 'cpu: 120'", id='cpu huge'),
    pytest.param('source: src/b.py', 'source: "src/b\\0.py"',
                 "modules.yaml:9:13: module 'b': 'source' 'src/b\\x00.py' contains a NUL byte; remove it", id='NUL in a path'),
    pytest.param('source: src/b.py', 'source: src/' + 'b' * 300 + '.py',
                 "modules.yaml:9:13: module 'b': 'source': the name '" + 'b' * 40 + "'... is 303 bytes long; "
                 "file systems allow at most 255, so shorten it", id='overlong path component'),
    pytest.param('  - name: b\n', '  - name: ' + 'b' * 300 + '\n',
                 "modules.yaml:8:11: module name '" + 'b' * 40 + "'... is 300 characters long; keep it under 101 "
                 "(it names files under build/)", id='overlong module name'),
    pytest.param('    depends: [a]', '    depends: !!int [a]',
                 "modules.yaml:11:14: invalid YAML: tag 'tag:yaml.org,2002:int' is not allowed (safe loading); remove it", id='int tag on a list'),
]


@pytest.mark.parametrize(("old", "new", "message"), HARDENED)
def test_hardened_manifest(repo: Path, old: str, new: str, message: str) -> None:
    assert old in BASE
    try:
        parse(BASE.replace(old, new, 1), repo)
    except (ManifestError, YamlSyntaxError) as exc:
        got = str(exc) if isinstance(exc, ManifestError) else f"modules.yaml:{exc.line}:{exc.col}: {exc}"
    else:
        got = "accepted"
    assert got == message


READ_HARDENED = [
    pytest.param(b"package:\n  name: p\x01kg\n", "modules.yaml:2:10: invalid YAML: control character 0x01 is not allowed; remove it", id="control character"),
    pytest.param(b"modules:\n  - name: !!int abc\n", "modules.yaml:2:11: invalid YAML: 'abc' is not a valid int (ValueError); remove the tag or fix the value", id="!!int"),
    pytest.param(b"modules:\n  - timeout: !!float x\n", "modules.yaml:2:14: invalid YAML: 'x' is not a valid float (ValueError); remove the tag or fix the value", id="!!float"),
    pytest.param(b"modules:\n  - name: !!timestamp 2020-99-99\n", "modules.yaml:2:11: invalid YAML: '2020-99-99' is not a valid timestamp (ValueError); remove the tag or fix the value", id="!!timestamp"),
    pytest.param(b"modules:\n  - name: !!bool maybe\n", "modules.yaml:2:11: invalid YAML: 'maybe' is not a valid bool (KeyError); remove the tag or fix the value", id="!!bool"),
    pytest.param(b"package:\n  name: caf\xc3\xa9\xe9\n", "modules.yaml:2:13: not valid UTF-8 (byte 0xe9); save the file as UTF-8", id="not UTF-8, column in characters"),
]


@pytest.mark.parametrize(("raw", "message"), READ_HARDENED)
def test_read_manifest_hardened(tmp_path: Path, raw: bytes, message: str) -> None:
    (tmp_path / "modules.yaml").write_bytes(raw)
    with pytest.raises(ManifestError) as exc:
        read_manifest(tmp_path)
    assert str(exc.value) == message


def _bomb(levels: int) -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    import time

    (tmp_path / "modules.yaml").write_bytes(_bomb(13))
    start = time.perf_counter()
    with pytest.raises(ManifestError) as exc:
        read_manifest(tmp_path)
    assert time.perf_counter() - start < 5  # was 42 s for `doit list`
    assert str(exc.value) == ("modules.yaml:6:5: invalid YAML: more than 100000 values once aliases are expanded "
                              "(aliases that refer to aliases?); write the values out")


def test_manifest_that_is_a_directory_or_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "modules.yaml").mkdir()
    with pytest.raises(ManifestError) as exc:
        read_manifest(tmp_path)
    assert str(exc.value) == ("modules.yaml:1:1: is a directory, not a file; the manifest is one YAML file "
                              "(see README, 'The manifest')")
    (tmp_path / "modules.yaml").rmdir()
    os.symlink(tmp_path / "loop.yaml", tmp_path / "modules.yaml")
    os.symlink(tmp_path / "modules.yaml", tmp_path / "loop.yaml")
    with pytest.raises(ManifestError) as exc:
        read_manifest(tmp_path)
    assert str(exc.value) == ("modules.yaml:1:1: cannot be read (Too many levels of symbolic links); "
                              "make it a readable YAML file")


def test_limits_from_defaults_and_module(repo: Path) -> None:
    text = BASE.replace("modules:", "defaults: {memory: 2048, cpu: 30}\nmodules:", 1).replace(
        "    depends: [a]", "    depends: [a]\n    memory: 512\n    processes: 64\n    file_size: 8")
    a, b = parse(text, repo).modules
    assert (a.limits.memory, a.limits.processes, a.limits.file_size, a.limits.cpu) == (2048.0, 4096.0, 1024.0, 30.0)
    assert (b.limits.memory, b.limits.processes, b.limits.file_size, b.limits.cpu) == (512.0, 64.0, 8.0, 30.0)
