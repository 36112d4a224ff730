"""Issue 14, item 1: what the source checks validate is exactly what nbdev exports.

Sources are generated from pieces courses really write (every cell-marker form
jupytext accepts, directives with and without blank lines, redundant directives,
markers inside strings, metadata on markers) and mutated at random; for every source
that passes the checks, the code of each exported cell, as the checks saw it, must
equal what nbdev wrote for it, and the line map must point at the same lines.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tasks.core.errors import SourceError
from tasks.steps.export import ExportJob, _line_map, validate
from tasks.tools.nbdev import render

MARKERS = ["# %%", "#%%", "  # %%", "# %% tags=[\"x\"]", "# In[1]:", "# <codecell>", "#  %%", "\t# %%"]
BODIES = [
    "#| export\ndef f{n}(x):\n    return x + {n}",
    "#| export\n\ndef g{n}():\n    pass",
    "#|export\nclass C{n}:\n    a = {n}",
    "#| export\n#| hide\nh{n} = 1",
    "#| export\nk{n} = 1\n\n#| export\nj{n} = 2",  # a redundant directive inside an exported cell
    "#| exporti\n_p{n} = {n}",
    "s{n} = '''\n# %% not a marker inside a string\n'''",
    "print({n})",
    "#| hide\nq{n} = {n}",
    "#| export\nt{n} = '''\n# %% a marker-like line in exported text\n'''",
    "\n#| export\nblank_first{n} = {n}",
]
MUTATIONS = [
    lambda s: s.replace("#| export", "#|  export", 1),
    lambda s: s.replace("\n", "\n\n", 1),
    lambda s: s + "\n",
    lambda s: s.replace("# %%", "#%%", 1),
    lambda s: s.replace("#| export\n", "#| export\n\n", 1),
    lambda s: s.rstrip("\n") + "\n\n\n",
]
HEADER = re.compile(r"^# %% \S+ #[0-9a-f]{8}(?:-\d+)?$")


def generate(rng: random.Random) -> str:
    parts = ["# %% [markdown]\n# # A module\n", "# %%\n#| default_exp ops\n"]
    for n in range(rng.randint(1, 7)):
        parts.append(f"{rng.choice(MARKERS)}\n{rng.choice(BODIES).format(n=n)}\n")
        if rng.random() < 0.3:
            parts.append("# %% [markdown]\n# prose, with a `#| export` mentioned\n")
    text = "\n".join(parts)
    for _ in range(rng.randint(0, 2)):
        text = rng.choice(MUTATIONS)(text)
    return text


def exported_bodies(rendered: str) -> list[tuple[int, str]]:
    """(first generated line, code) of each cell nbdev wrote, its '# %% auto' cell left out."""
    lines = rendered.split("\n")
    heads = [i for i, t in enumerate(lines) if HEADER.match(t)]
    out = []
    for k, i in enumerate(heads):
        end = heads[k + 1] if k + 1 < len(heads) else len(lines)
        out.append((i + 2, "\n".join(lines[i + 1:end]).rstrip("\n")))
    return out


@pytest.mark.parametrize("seed", range(60))
def test_validated_code_is_what_nbdev_exports(tmp_path: Path, seed: int) -> None:
    text = generate(random.Random(seed))
    source = tmp_path / "ops.py"
    source.write_text(text, encoding="utf-8")
    job = ExportJob(root=str(tmp_path), name="ops", source="ops.py", target="pkg.ops", lib="lib", package="pkg",
                    depends={}, targets={"pkg.ops": "ops"})
    try:
        nb_data, cells = validate(job, text)
    except SourceError as exc:
        # only refusals the checks are meant to make: a typo'd or misplaced directive
        assert "directive" in str(exc) or "'#| export' must be on" in str(exc), (text, str(exc))
        return
    rendered = render(nb_data, source, job.target, tmp_path / "lib")
    validated = [cell.code() for cell in cells if cell.exported]
    written = exported_bodies(rendered)
    assert [code.rstrip("\n") for _, code in validated] == [code for _, code in written], text
    # every exported line maps back to the line an editor shows for it
    pairs = _line_map(rendered, nb_data, cells)
    src_lines = text.split("\n")
    gen_lines = rendered.split("\n")
    for gen_first, src_first in pairs:
        code = dict(written)[gen_first]
        for k, line in enumerate(code.split("\n")):
            assert gen_lines[gen_first - 1 + k] == line == src_lines[src_first - 1 + k], (text, gen_first, k)
