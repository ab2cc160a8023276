"""Write docs/roles.md from each role's meta/argument_specs.yml and meta/outputs.yml.

    python -m tools.roledocs            write docs/roles.md
    python -m tools.roledocs --check    exit 1 when docs/roles.md is not what the roles say

One section per role (its entry points for an internal role): description, a variables table
(name, type, default, required, description) and the role's outputs. A variable whose default is
computed in defaults/main.yml (a Jinja expression) shows "(derived)". Exit 0 ok, 1 stale, 2 a
role's metadata cannot be read (one line).
"""
import argparse
import json
import sys
from pathlib import Path

from tools._generated import write_or_check

import yaml

REPO = Path(__file__).resolve().parent.parent
OUTPUT = "docs/roles.md"
HEADER = """# Role reference

Generated from each role's `meta/argument_specs.yml` and `meta/outputs.yml` by `python -m tools.roledocs`;
do not edit by hand (`tests/unit/test_role_docs.py` fails when this file is stale). Outputs are what a role
sets for later roles and playbooks; they are never inputs, and their names carry `_result_`.
"""


class MetaError(Exception):
    """A role's metadata cannot be read."""


def _load(path, required=True):
    if not path.is_file():
        if required:
            raise MetaError("%s: missing" % path)
        return {}
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise MetaError("%s: not YAML (%s)" % (path, str(e).splitlines()[0])) from None


def role_meta(role_dir):
    """(argument_specs entry points, defaults, outputs) of one role."""
    specs = _load(role_dir / "meta/argument_specs.yml").get("argument_specs") or {}
    if not isinstance(specs, dict) or not specs:
        raise MetaError("%s: no argument_specs" % (role_dir / "meta/argument_specs.yml"))
    defaults = _load(role_dir / "defaults/main.yml", required=False)
    outputs = _load(role_dir / "meta/outputs.yml", required=False)
    return specs, defaults, outputs


def roles(repo=REPO):
    return sorted(p for p in (Path(repo) / "roles").iterdir() if (p / "meta/argument_specs.yml").is_file())


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _type(opt):
    t = opt.get("type", "str")
    if t == "list" and opt.get("elements"):
        t = "list of %s" % opt["elements"]
    if opt.get("choices"):
        t += " (%s)" % ", ".join(str(c) for c in opt["choices"])
    return t


def _default(name, opt, defaults):
    if "default" in opt:
        value = opt["default"]
    elif name in defaults:
        value = defaults[name]
        if isinstance(value, str) and "{{" in value:
            return "(derived)"
    else:
        return ""
    if isinstance(value, str):
        return "`%s`" % value if value else '`""`'
    return "`%s`" % json.dumps(value)


def _text(value):
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _options_table(options, defaults):
    lines = ["| name | type | default | required | description |", "|---|---|---|---|---|"]
    for name, opt in options.items():
        opt = opt or {}
        lines.append("| `%s` | %s | %s | %s | %s |" % (
            name, _cell(_type(opt)), _cell(_default(name, opt, defaults)), "yes" if opt.get("required") else "no",
            _cell(_text(opt.get("description")))))
    return lines


def _entry(title, spec, defaults):
    """Description, then the variables table under `title` (main) or with the description (other entry points)."""
    lines = [_cell(spec.get("short_description", "")), ""]
    for d in spec.get("description") or []:
        lines.append("- " + _cell(d))
    if spec.get("description"):
        lines.append("")
    options = spec.get("options") or {}
    lines += [title, ""] + (_options_table(options, defaults) if options else ["No variables."])
    return lines + [""]


def _outputs(outputs):
    facts, stats = outputs.get("facts") or {}, outputs.get("stats") or {}
    lines = ["### Outputs", ""]
    if facts:
        lines += ["| name | type | description |", "|---|---|---|"]
        for name, o in facts.items():
            lines.append("| `%s` | %s | %s |" % (name, _cell(o.get("type", "")), _cell(_text(o.get("description")))))
        lines.append("")
    else:
        lines += ["No variables (its registered and internal variables start with `__`).", ""]
    for key, o in stats.items():
        lines += ["Host summary `%s`: %s" % (key, _cell(_text(o.get("description")))), ""]
    return lines


def render(repo=REPO):
    """docs/roles.md as the roles say it should be (a string)."""
    dirs = roles(repo)
    lines = [HEADER, "Roles: " + ", ".join("[%s](#%s)" % (d.name, d.name) for d in dirs) + ".", ""]
    for d in dirs:
        specs, defaults, outputs = role_meta(d)
        main = specs.get("main") or {}
        lines += ["## %s" % d.name, ""]
        lines += _entry("### Variables", main, defaults)
        for k in (k for k in specs if k != "main"):
            lines += ["### Entry point `%s` (tasks_from: %s)" % (k, k), ""]
            lines += _entry("Variables of `%s`:" % k, specs[k], defaults)
        lines += _outputs(outputs)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.roledocs", description="Write docs/roles.md from the roles.")
    p.add_argument("--check", action="store_true", help="exit 1 when the file is not current (write nothing)")
    p.add_argument("--output", help="the file (default docs/roles.md of the checkout)")
    p.add_argument("--repo", default=str(REPO), help="the checkout whose roles/ to read (default this one)")
    a = p.parse_args(argv)
    a.output = a.output or str(Path(a.repo) / OUTPUT)
    try:
        text = render(a.repo)
    except MetaError as e:
        print("roledocs: error: %s" % e, file=sys.stderr)
        return 2
    out = Path(a.output)
    current = out.read_text() if out.is_file() else None
    return write_or_check(out, text, current, a.check,
                          "roledocs: %s is stale: run python -m tools.roledocs" % a.output, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
