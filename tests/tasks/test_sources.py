"""tasks.steps.sources: the percent-file scanner and every source problem it reports, with its exact message."""

from __future__ import annotations

import json

import pytest

from tasks.core.errors import Problem, SourceError, join
from tasks.steps.sources import Import, check_code, check_directives, check_imports, decode, scan

PATH = "modules/02_ops/ops.py"
# lines 1-3: prose; line 4: '# %%'; line 5: default_exp; each cell added by `src` starts at line 7
HEAD = "# %% [markdown]\n# # Ops\n\n# %%\n#| default_exp core.ops\n\n"


def src(*bodies: str) -> str:
    """The header, then one code cell per body: the first body line is line 8, the next cell's marker follows."""
    return HEAD + "".join(f"# %%\n{body}\n\n" for body in bodies)


def problems(text: str) -> str:
    cells = scan(text, PATH)
    found = check_directives(cells, PATH, "core.ops")
    found += check_code(cells, PATH, "minitorch")[0]
    return join(found)


def test_scan_splits_cells_with_line_numbers() -> None:
    cells = scan(src("#| export\ndef f():\n    pass", "f()"), PATH)
    assert [(c.kind, c.marker_line, c.first_line) for c in cells] == [
        ("markdown", 1, 2), ("code", 4, 5), ("code", 7, 8), ("code", 12, 13)]
    assert cells[1].directives == [(5, "default_exp", "core.ops")]
    assert [c.exported for c in cells] == [False, False, True, False]
    assert cells[2].code() == (9, "def f():\n    pass")


def test_scan_skips_a_jupytext_header_and_keeps_text_before_the_first_marker() -> None:
    # jupytext's own reading: the blank line after the header is not part of the first cell
    text = "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n# ---\n\nimport os\n\n# %% [raw]\nraw\n"
    cells = scan(text, PATH)
    assert [(c.kind, c.marker_line, c.first_line, c.lines) for c in cells] == [
        ("code", 0, 7, ("import os",)), ("raw", 9, 10, ("raw",))]


def test_scan_reads_notebooks() -> None:
    nb = {"cells": [{"cell_type": "markdown", "source": ["# Ops"]},
                    {"cell_type": "code", "source": ["#| export\n", "x = 1"]}]}
    cells = scan(json.dumps(nb), "m/ops.ipynb")
    assert [(c.kind, c.marker_line, c.exported) for c in cells] == [("markdown", 1, False), ("code", 2, True)]


@pytest.mark.parametrize(("raw", "text"), [
    (b"a = 1\nb = 2\n", "a = 1\nb = 2\n"),
    (b"\xef\xbb\xbfa = 1\n", "a = 1\n"),
    (b"a = 1\r\nb = 2\r\n", "a = 1\nb = 2\n"),
    (b"\xef\xbb\xbfa = 1\rb = 2\r", "a = 1\nb = 2\n"),
    ("s = 'caf\u00e9'\n".encode(), "s = 'caf\u00e9'\n"),
])
def test_decode_accepts_utf8_with_bom_and_any_line_ending(raw: bytes, text: str) -> None:
    assert decode(raw, PATH) == text


def test_bom_and_crlf_sources_scan_like_plain_ones() -> None:
    plain = src("#| export\ndef f():\n    pass")
    odd = decode(b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode(), PATH)
    assert scan(odd, PATH) == scan(plain, PATH)
    assert problems(odd) == ""


@pytest.mark.parametrize(("raw", "message"), [
    (b"a = 1\ns = 'caf\xe9'\n", f"{PATH}:2: not valid UTF-8 (byte 0xe9); save the file as UTF-8 in your editor"),
    (b"\xff\xfea\x00", f"{PATH}:1: not valid UTF-8 (byte 0xff); save the file as UTF-8 in your editor"),
    (b"# %%\n\n\nx = '\x80'", f"{PATH}:4: not valid UTF-8 (byte 0x80); save the file as UTF-8 in your editor"),
])
def test_decode_refuses_other_encodings(raw: bytes, message: str) -> None:
    with pytest.raises(SourceError) as exc:
        decode(raw, PATH)
    assert str(exc.value) == message


@pytest.mark.parametrize(("text", "message"), [
    ("{", "m/ops.ipynb:1: not a valid notebook (Expecting property name enclosed in double quotes: line 1 column 2 "
          "(char 1)); re-save it from Jupyter"),
    ("{}", "m/ops.ipynb:1: not a valid notebook ('cells'); re-save it from Jupyter"),
    ("[]", "m/ops.ipynb:1: not a valid notebook (list indices must be integers or slices, not str); "
           "re-save it from Jupyter"),
])
def test_bad_notebooks(text: str, message: str) -> None:
    with pytest.raises(SourceError) as exc:
        scan(text, "m/ops.ipynb")
    assert str(exc.value) == message


SOURCE_PROBLEMS = [
    pytest.param(src("#| export\nfrom minitorch.core.core import Value\n\n\ndef f():\n    pass", "f()"), "", id="clean"),
    pytest.param(src("def f(:"), "", id="syntax error outside exported cells is not ours"),
    pytest.param(HEAD + "# %% [markdown]\n#export\n# prose\n", "", id="directives in prose are ignored"),
    pytest.param(src("# %% this is fine\nx = 1"), "", id="comment"),
    pytest.param(src("#export\ndef f(): pass"),
                 f"{PATH}:8: '#export' is not an nbdev directive, so nbdev silently ignores it; "
                 "did you mean '#| export'?", id="#export"),
    pytest.param(src("# export\ndef f(): pass"),
                 f"{PATH}:8: '# export' is not an nbdev directive, so nbdev silently ignores it; "
                 "did you mean '#| export'?", id="# export"),
    pytest.param(src("#exporti\ndef _f(): pass"),
                 f"{PATH}:8: '#exporti' is not an nbdev directive, so nbdev silently ignores it; "
                 "did you mean '#| exporti'?", id="#exporti"),
    pytest.param(src("#| Export\ndef f(): pass"),
                 f"{PATH}:8: unknown directive '#| Export'; did you mean '#| export'?", id="#| Export"),
    pytest.param(src("#|exprot\ndef f(): pass"),
                 f"{PATH}:8: unknown directive '#| exprot'; did you mean '#| export'?", id="#|exprot"),
    pytest.param(src("#| zzzzqq\ndef f(): pass"),
                 f"{PATH}:8: unknown directive '#| zzzzqq'; nbdev ignores it", id="unknown directive"),
    pytest.param(src("#| export core.core\ndef f(): pass"),
                 f"{PATH}:8: '#| export core.core' exports to another module; every module exports to its own "
                 "target only: write '#| export' and move the code to the module that owns 'core.core'",
                 id="targeted export"),
    pytest.param(src("#| exporti core.core\ndef _f(): pass"),
                 f"{PATH}:8: '#| exporti core.core' exports to another module; every module exports to its own "
                 "target only: write '#| exporti' and move the code to the module that owns 'core.core'",
                 id="targeted exporti"),
    pytest.param(src("x = 1\n#| export\ndef f(): pass"),
                 f"{PATH}:9: '#| export' must be on the cell's first lines, before any code; nbdev ignores it "
                 "here: move it to the top of the cell", id="directive after code"),
    pytest.param("# %%\n#| export\ndef f(): pass\n",
                 f"{PATH}:1: no '#| default_exp' directive; add a code cell with '#| default_exp core.ops' "
                 "near the top", id="no default_exp"),
    pytest.param("# %%\n#default_exp core.ops\n",
                 f"{PATH}:1: no '#| default_exp' directive; add a code cell with '#| default_exp core.ops' "
                 f"near the top\n{PATH}:2: '#default_exp core.ops' is not an nbdev directive, so nbdev silently "
                 "ignores it; did you mean '#| default_exp core.ops'?", id="#default_exp"),
    pytest.param(src("#| default_exp core.ops"),
                 f"{PATH}:8: second '#| default_exp' (the first is at line 5); a module exports to one target: "
                 "remove this one", id="two default_exp"),
    pytest.param("# %%\n#| default_exp core.opz\n",
                 f"{PATH}:2: '#| default_exp core.opz' does not match the manifest target; write "
                 "'#| default_exp core.ops' (or change 'target' in modules.yaml)", id="default_exp differs"),
    pytest.param(src("#| export\ndef f(:\n    pass"),
                 f"{PATH}:9:7: syntax error in an exported cell: invalid syntax; correct the code here "
                 "(the last good export is kept until then)", id="syntax error"),
    pytest.param(src("#| export\n\ndef f():\n    return (1 +\n"),
                 f"{PATH}:11:12: syntax error in an exported cell: '(' was never closed; correct the code here "
                 "(the last good export is kept until then)", id="syntax error deeper in the cell"),
    pytest.param(src("x = 1", "#| exporti\ndef f():\n\treturn 1\n        return 2"),
                 f"{PATH}:14:1: syntax error in an exported cell: inconsistent use of tabs and spaces in "
                 "indentation; correct the code here (the last good export is kept until then)",
                 id="syntax error in a later cell"),
    pytest.param(src("#| export\nfrom .core import Value"),
                 f"{PATH}:9: relative import 'from .core import ...'; write the absolute form "
                 "'from minitorch.<module> import ...' (nbdev makes it relative on export)", id="relative import"),
    pytest.param(src("#| export\ndef f():\n    from .. import core"),
                 f"{PATH}:10: relative import 'from .. import ...'; write the absolute form "
                 "'from minitorch.<module> import ...' (nbdev makes it relative on export)",
                 id="relative import in a function"),
]


@pytest.mark.parametrize(("text", "message"), SOURCE_PROBLEMS)
def test_source_problems(text: str, message: str) -> None:
    assert problems(text) == message


def test_package_imports_are_collected_with_their_lines() -> None:
    text = src("#| export\nimport numpy as np\nfrom minitorch.core.core import Value\nimport minitorch.core.ops as o\n"
               "from minitorchx import y\nfrom minitorch import core")
    assert check_code(scan(text, PATH), PATH, "minitorch")[1] == [
        Import(10, "minitorch.core.core", ("Value",)), Import(11, "minitorch.core.ops"),
        Import(13, "minitorch", ("core",))]


TARGETS = {"minitorch.core.core": "core", "minitorch.core.ops": "ops", "minitorch.core.model": "model"}

IMPORT_PROBLEMS = [
    pytest.param(Import(9, "minitorch.core.core", ("Value",)), "", id="declared dependency"),
    pytest.param(Import(9, "minitorch.core", ("core",)), "", id="dependency as a submodule"),
    pytest.param(Import(9, "minitorch.core.model", ("LinearModel",)),
                 f"{PATH}:9: ops imports minitorch.core.model, but model comes after ops in modules.yaml; a module "
                 "cannot import a later one: move the code that needs model into model or a module after it",
                 id="undeclared dependency, later in the course"),
    pytest.param(Import(9, "minitorch.core", ("model",)),
                 f"{PATH}:9: ops imports minitorch.core.model, but model comes after ops in modules.yaml; a module "
                 "cannot import a later one: move the code that needs model into model or a module after it",
                 id="undeclared, later, as a submodule"),
    pytest.param(Import(9, "minitorch.core.ops"),
                 f"{PATH}:9: ops imports itself (minitorch.core.ops); remove the import", id="itself"),
    pytest.param(Import(9, "minitorch.core.opps", ("f",)),
                 f"{PATH}:9: ops imports minitorch.core.opps, which no module in modules.yaml produces; "
                 "did you mean 'minitorch.core.ops'?", id="no such module, with a guess"),
    # issue 14: the shared 'minitorch.core.' prefix does not make 'nope' close to 'ops' or 'model'
    pytest.param(Import(9, "minitorch.core.nope", ("f",)),
                 f"{PATH}:9: ops imports minitorch.core.nope, which no module in modules.yaml produces; "
                 "check the name against the targets in modules.yaml", id="a shared prefix is no guess"),
    pytest.param(Import(9, "minitorch.core.losses"),
                 f"{PATH}:9: ops imports minitorch.core.losses, which no module in modules.yaml produces; "
                 "check the name against the targets in modules.yaml", id="a stale module name is no guess"),
    pytest.param(Import(9, "minitorch.zzzzzzzzzzzzz"),
                 f"{PATH}:9: ops imports minitorch.zzzzzzzzzzzzz, which no module in modules.yaml produces; "
                 "check the name against the targets in modules.yaml", id="no such module"),
    pytest.param(Import(9, "minitorch", ("Value",)),
                 f"{PATH}:9: ops imports 'Value' from the package 'minitorch', which imports every module "
                 "(including ops); import it from the module that defines it, e.g. "
                 "'from minitorch.core.core import ...'", id="a name from the package"),
    pytest.param(Import(9, "minitorch"),
                 f"{PATH}:9: ops imports the package 'minitorch', which imports every module (including ops); "
                 "import the modules it needs, e.g. 'from minitorch.core.core import ...'", id="the package"),
]


@pytest.mark.parametrize(("imp", "message"), IMPORT_PROBLEMS)
def test_import_problems(imp: Import, message: str) -> None:
    found = check_imports([imp], PATH, "ops", "minitorch", {"core": "minitorch.core.core"}, TARGETS)
    assert join(found) == message


def test_an_undeclared_earlier_module_asks_for_the_dependency() -> None:
    found = check_imports([Import(9, "minitorch.core.core", ("Value",))], PATH, "ops", "minitorch", {}, TARGETS)
    assert join(found) == (f"{PATH}:9: ops imports minitorch.core.core but does not depend on core; add 'core' to "
                           "the 'depends' of 'ops' in modules.yaml, or remove the import")


def test_importing_a_module_built_on_this_one_is_not_advice_for_a_cycle() -> None:
    found = check_imports([Import(9, "minitorch.core.model", ("LinearModel",))], PATH, "ops", "minitorch",
                          {"core": "minitorch.core.core"}, TARGETS, dependants=("model",))
    assert join(found) == (f"{PATH}:9: ops imports minitorch.core.model, but model is built on ops; a module cannot "
                           "import a later one: move the code that needs model into model or a module after it")


def test_problems_render_with_and_without_a_column() -> None:
    assert str(Problem("a.py", 3, 0, "m")) == "a.py:3: m"
    assert str(Problem("a.py", 3, 7, "m")) == "a.py:3:7: m"
    assert join([Problem("b.py", 1, 0, "y"), Problem("a.py", 9, 0, "x"), Problem("a.py", 2, 0, "z")]) == \
        "a.py:2: z\na.py:9: x\nb.py:1: y"


# -- issue 14, item 1: the cells jupytext reads, the lines an editor counts ---------------------------
@pytest.mark.parametrize("marker", ["#%%", "  # %%", "#  %%", "# In[2]:", "# <codecell>", '# %% tags=["a"]'])
def test_every_marker_form_jupytext_accepts_starts_a_cell(marker: str) -> None:
    text = HEAD + f"{marker}\n#| export\ndef f():\n    pass\n"
    cells = scan(text, PATH)
    assert [(c.marker_line, c.first_line, c.exported) for c in cells[2:]] == [(7, 8, True)]
    assert cells[2].code() == (9, "def f():\n    pass")


def test_a_marker_inside_a_string_is_not_a_cell() -> None:
    cells = scan(src('#| export\ns = """\n# %% not a cell\n"""'), PATH)
    assert len(cells) == 3 and cells[2].code() == (9, 's = """\n# %% not a cell\n"""')


@pytest.mark.parametrize(("char", "name"), [
    ("\f", "a form feed (U+000C)"), ("\x1c", "a file separator (U+001C)"), ("\x1e", "a record separator (U+001E)"),
    ("\x85", "a next-line character (U+0085)"), ("\u2028", "a line separator (U+2028)"),
])
def test_separators_only_splitlines_honours_are_refused_where_an_editor_sees_them(char: str, name: str) -> None:
    from tasks.steps.sources import check_separators

    text = src(f"#| export\nx = 1  {char}# tail")
    escape = f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    assert join(check_separators(text, PATH)) == (
        f"{PATH}:9:8: {name}: jupytext and nbdev start a new line at it and an editor does not, so line numbers "
        f"would disagree; delete it, or write it as the escape '{escape}' inside a string")


def test_a_redundant_export_inside_an_exported_cell_is_accepted() -> None:
    assert problems(src("#| export\nx = 1\n\n#| export\ny = 2")) == ""


def test_a_directive_inside_a_cell_that_is_not_exported_is_still_refused() -> None:
    assert problems(src("x = 1\n#| export\ny = 2")) == (
        f"{PATH}:9: '#| export' must be on the cell's first lines, before any code; nbdev ignores it here: "
        "move it to the top of the cell")


def test_a_notebook_place_names_the_cell() -> None:
    nb = {"cells": [{"cell_type": "code", "source": ["#| default_exp core.ops\n"]},
                    {"cell_type": "code", "source": ["#| export\n", "x = 1\n", "from ..a import b"]}]}
    cells = scan(json.dumps(nb), "m/ops.ipynb")
    found = check_code(cells, "m/ops.ipynb", "minitorch")[0]
    assert join(found) == ("m/ops.ipynb:cell 2:3: relative import 'from ..a import ...'; write the absolute form "
                           "'from minitorch.<module> import ...' (nbdev makes it relative on export)")


def test_third_party_imports_must_be_declared() -> None:
    from tasks.steps.sources import check_requirements, external_imports

    text = src("#| export\nimport os\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
               "try:\n    import psutil\nexcept ImportError:\n    psutil = None")
    imports = external_imports(scan(text, PATH), PATH, "minitorch")
    assert join(check_requirements(imports, PATH, "ops", {"numpy"}, {"matplotlib": ["matplotlib"]})) == (
        f"{PATH}:11: ops imports matplotlib, which is neither in the standard library, nor in the package, nor in "
        "[project].dependencies of pyproject.toml; add 'matplotlib' to dependencies there (the installed package "
        "would fail without it), or remove the import")
