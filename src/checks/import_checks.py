"""Renders Materialize's platform-checks Check classes into scenario-operator check files.

Run by `scenario-operator import-checks` (embedded in the binary), as:
    python3 import_checks.py MATERIALIZE_DIR BASE_VERSION OUT_DIR

Imports `materialize.checks.all_checks` from MATERIALIZE_DIR/misc/python, with the modules
that only matter when platform-checks drives a real deployment (executors, buildkite, spawn,
mzbuild, cloudtest, mzcompose) replaced by small stand-ins, so importing needs no more than
the checks themselves do. Every Check subclass (not ending in `Base`, not @disabled) is
instantiated as platform-checks does, `cls(base_version, rng=None)`, with `current_version`
set to the base version, and the text its initialize() / manipulate() / validate() return is
written to OUT_DIR/<Class>.yaml. `_can_run` becomes minBaseVersion / minCurrentVersion when it
is a plain version test; anything else is reported and the check imported without it.
Prints one line per class and a summary; exit 0 unless the checkout cannot be imported.
"""

import enum
import importlib
import inspect
import os
import pkgutil
import re
import sys
import types


def stub(name, **attrs):
    """A stand-in module `name` (and its parents), unless it is already importable."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


class Executor:
    """platform-checks' Executor as checks see it: the version it runs, its settings."""

    system_settings: set = set()

    def __init__(self, version=None):
        self.current_mz_version = version


class _Anything:
    """Any attribute, any call: for classes checks only mention (e.g. MySql.DEFAULT_ROOT_PASSWORD)."""

    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *args, **kwargs):
        return _Anything()

    def __str__(self):
        return "stub"


def install_stubs():
    stub("materialize.checks.executors", Executor=Executor)
    stub(
        "materialize.buildkite",
        get_var=lambda var, default=None: default,
        BuildkiteEnvVar=enum.Enum("BuildkiteEnvVar", "BUILDKITE_STEP_KEY BUILDKITE_TAG"),
        is_in_buildkite=lambda: False,
    )
    stub("materialize.spawn", runv=lambda *a, **k: None, capture=lambda *a, **k: "")
    stub("materialize.mzbuild", Profile=enum.Enum("Profile", "RELEASE OPTIMIZED DEV"))
    for name in ["materialize.cloudtest", "materialize.cloudtest.app",
                 "materialize.cloudtest.app.materialize_application"]:
        stub(name, MaterializeApplication=_Anything)
    stub("materialize.mzcompose", Composition=_Anything, Service=_Anything)
    stub("materialize.mzcompose.services")
    stub("materialize.mzcompose.services.mysql", MySql=_Anything())
    stub("materialize.mzcompose.services.sql_server", SqlServer=_Anything())
    try:
        importlib.import_module("pg8000.converters")
    except ImportError:
        # identifiers.py quotes with it; a SQL string literal is all it needs.
        stub("pg8000")
        stub("pg8000.converters", literal=lambda v: "'" + str(v).replace("'", "''") + "'")


def subclasses(cls):
    seen = []
    for sub in cls.__subclasses__():
        seen.append(sub)
        seen.extend(subclasses(sub))
    return seen


# `return self.base_version >= MzVersion.parse_mz("v0.81.0")`, or `e.current_mz_version …`;
# MzVersion.parse(…) and parse_mz(…) alike.
VERSION_TEST = re.compile(
    r"""^return\s+(self\.base_version|e\.current_mz_version)\s*(>=|>)\s*"""
    r"""MzVersion\.parse(?:_mz)?\(\s*["']v?([0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.-]*)["']\s*\)$"""
)


def can_run(cls, check_base):
    """(minBaseVersion, minCurrentVersion, note) from the class's `_can_run`."""
    if cls._can_run is check_base._can_run:
        return None, None, None
    try:
        source = inspect.getsource(cls._can_run)
    except (OSError, TypeError):
        return None, None, "_can_run's source is not available"
    body = [line.strip() for line in source.splitlines()[1:] if line.strip()
            and not line.strip().startswith("#")]
    match = len(body) == 1 and VERSION_TEST.match(body[0])
    if not match:
        return None, None, "_can_run is not a plain version test: " + " ".join(body)[:160]
    who, op, version = match.groups()
    version = "v" + version
    note = None
    if op == ">" and "-" in version:
        # Above a pre-release: from its release on ("> v0.131.0-dev" is v0.131.0 onwards).
        version = version.split("-", 1)[0]
    elif op == ">":
        note = f"_can_run says > {version}; imported as >= {version}"
    if who == "self.base_version":
        return version, None, note
    return None, version, note


def block(text, indent):
    """A YAML value for `text`: a literal block when that keeps it exactly, else double-quoted."""
    lines = text.split("\n")
    first = next((line for line in lines if line), "")
    literal = (
        text.strip() != ""
        and all(yaml_printable(c) and c not in "\x85\u2028\u2029\ufeff" for c in text if c != "\n")
        and "\t" not in text
        and "\r" not in text
        and not first.startswith(" ")
        and all(line == line.rstrip() for line in lines)
    )
    if not literal:
        return quoted(text)
    if not text.endswith("\n"):
        chomp, body = "-", text
    elif text.endswith("\n\n"):
        chomp, body = "+", text[:-1]
    else:
        chomp, body = "", text[:-1]
    pad = " " * indent
    return "|" + chomp + "\n" + "\n".join(pad + line if line else "" for line in body.split("\n"))


def yaml_printable(c):
    """YAML 1.2's printable set: what may appear unescaped in a document."""
    o = ord(c)
    return (
        o in (0x9, 0xA, 0xD, 0x85)
        or 0x20 <= o <= 0x7E
        or 0xA0 <= o <= 0xD7FF
        or 0xE000 <= o <= 0xFFFD
        or 0x10000 <= o <= 0x10FFFF
    )


def quoted(text):
    """A YAML double-quoted scalar of exactly `text`: checks hold NUL and other control
    characters (testdrive scripts feeding binary data), which YAML only carries escaped."""
    out = []
    for c in text:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif yaml_printable(c) and c not in "\r\x85\u2028\u2029\ufeff":
            out.append(c)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def render(name, spec):
    out = [f"# Imported from platform-checks' {name} by scenario-operator import-checks.", f"name: {name}"]
    for key in ["minBaseVersion", "minCurrentVersion"]:
        if spec.get(key):
            out.append(f"{key}: {spec[key]}")
    if spec.get("externallyIdempotent") is False:
        out.append("externallyIdempotent: false")
    out.append("initialize: " + block(spec["initialize"], 2))
    out.append("manipulate:")
    for text in spec["manipulate"]:
        out.append("  - " + block(text, 4))
    out.append("validate: " + block(spec["validate"], 2))
    return "\n".join(out) + "\n"


def main():
    materialize_dir, base_version, out_dir = sys.argv[1:4]
    python_dir = os.path.join(materialize_dir, "misc", "python")
    if not os.path.isdir(os.path.join(python_dir, "materialize", "checks", "all_checks")):
        sys.exit(f"import-checks: {materialize_dir} has no misc/python/materialize/checks/all_checks")
    os.environ.setdefault("MZ_ROOT", os.path.abspath(materialize_dir))
    sys.path.insert(0, python_dir)
    importlib.import_module("materialize")
    install_stubs()
    try:
        checks_module = importlib.import_module("materialize.checks.checks")
        actions = importlib.import_module("materialize.checks.actions")
        mz_version = importlib.import_module("materialize.mz_version")
    except Exception as e:  # noqa: BLE001 — any failure here means nothing can be imported
        sys.exit(f"import-checks: cannot import platform-checks' base modules: {type(e).__name__}: {e}")
    Check, Testdrive, MzVersion = checks_module.Check, actions.Testdrive, mz_version.MzVersion
    base = MzVersion.parse_mz(base_version)

    skipped = []  # (what, why)
    package = importlib.import_module("materialize.checks.all_checks")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        try:
            importlib.import_module(f"{package.__name__}.{info.name}")
        except Exception as e:  # noqa: BLE001 — reported, the other modules still import
            skipped.append((f"module {info.name}", f"import failed: {type(e).__name__}: {e}"))

    os.makedirs(out_dir, exist_ok=True)
    imported = 0
    classes = sorted({c for c in subclasses(Check)}, key=lambda c: c.__name__)
    for cls in classes:
        name = cls.__name__
        if name.endswith("Base"):
            continue  # platform-checks never runs these (Scenario._include_check_class)
        if not getattr(cls, "enabled", True):
            skipped.append((name, "disabled (@disabled)"))
            continue
        try:
            check = cls(base_version=base, rng=None)
            check.current_version = base
            phases = [check.initialize(), *check.manipulate(), check.validate()]
        except Exception as e:  # noqa: BLE001 — reported per class
            skipped.append((name, f"rendering failed: {type(e).__name__}: {e}"))
            continue
        if len(phases) != 4:
            skipped.append((name, f"manipulate() returned {len(phases) - 2} actions, not 2"))
            continue
        if not all(isinstance(p, Testdrive) for p in phases):
            kinds = ", ".join(sorted({type(p).__name__ for p in phases if not isinstance(p, Testdrive)}))
            skipped.append((name, f"a phase is not testdrive ({kinds})"))
            continue
        min_base, min_current, note = can_run(cls, Check)
        spec = {
            "initialize": phases[0].input,
            "manipulate": [phases[1].input, phases[2].input],
            "validate": phases[3].input,
            "minBaseVersion": min_base,
            "minCurrentVersion": min_current,
            "externallyIdempotent": getattr(cls, "externally_idempotent", True),
        }
        with open(os.path.join(out_dir, f"{name}.yaml"), "w") as f:
            f.write(render(name, spec))
        imported += 1
        print(f"imported {name}" + (f" ({note})" if note else ""))
    for what, why in skipped:
        print(f"skipped {what}: {why}")
    print(f"import-checks: {imported} imported, {len(skipped)} skipped, into {out_dir}")


if __name__ == "__main__":
    main()
