"""environment.yml (conda, Binder) and pyproject.toml (pip) list the same packages.

Both files are read with tiny hand parsers made for their simple, known shape,
so the test needs nothing beyond the standard library on Python 3.10 (tomllib
is 3.11+; pyyaml is not a dependency). Where tomllib exists, the TOML reader is
checked against it, so a pyproject.toml outgrowing the reader fails loudly
rather than being misread.
"""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
ENVIRONMENT = ROOT / "environment.yml"

# conda-forge names that differ from PyPI's: matplotlib-base is matplotlib
# without the Qt backend, the usual choice for Binder.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
ALLOWED_CHANNELS = {"conda-forge", "nodefaults"}


def _strip_comment(line):
    """The line without a trailing # comment; a # inside quotes is kept."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def read_pyproject(text):
    """{'requires-python': str, 'dependencies': [str], 'optional-dependencies': {extra: [str]}}

    Understands `key = "string"` and `key = [ "a", "b" ]` (over several lines)
    under [project] and [project.optional-dependencies], which is all this
    project's file uses for them.
    """
    result = {"requires-python": None, "dependencies": [], "optional-dependencies": {}}
    section = None
    key, buf = None, ""
    for raw in text.splitlines():
        line = _strip_comment(raw).strip()
        if key is not None:  # inside a multi-line array
            buf += " " + line
            if "]" in line:
                _store(result, section, key, buf)
                key, buf = None, ""
            continue
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[] ")
            continue
        if section not in ("project", "project.optional-dependencies") or "=" not in line:
            continue
        name, _, value = (part.strip() for part in line.partition("="))
        name = name.strip("\"'")
        if value.startswith("[") and "]" not in value:
            key, buf = name, value
        else:
            _store(result, section, name, value)
    assert key is None, f"unterminated array for {key!r} in pyproject.toml"
    return result


def _store(result, section, key, value):
    strings = re.findall(r'"([^"]*)"|\'([^\']*)\'', value)
    strings = [a or b for a, b in strings]
    if section == "project.optional-dependencies":
        result["optional-dependencies"][key] = strings
    elif key == "dependencies":
        result["dependencies"] = strings
    elif key == "requires-python":
        result["requires-python"] = strings[0]


def read_environment(text):
    """{'channels': [str], 'conda': [str], 'pip': [str]} from a simple environment.yml.

    Understands top-level `key:` followed by `  - item` lists, and one nested
    `  - pip:` list under dependencies.
    """
    result = {"channels": [], "conda": [], "pip": []}
    top = None
    in_pip = False
    for raw in text.splitlines():
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        item = line.strip()
        if indent == 0:
            top = item.split(":", 1)[0]
            in_pip = False
            continue
        if not item.startswith("- "):
            raise ValueError(f"environment.yml: unexpected line {raw!r}")
        value = item[2:].strip().strip("\"'")
        if top == "dependencies" and value == "pip:":
            in_pip, pip_indent = True, indent
            continue
        if in_pip and indent > pip_indent:
            result["pip"].append(value)
            continue
        in_pip = False
        if top == "channels":
            result["channels"].append(value)
        elif top == "dependencies":
            result["conda"].append(value)
    return result


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def parse_spec(requirement, aliases=None):
    """('normalized-name', 'normalized spec') for 'Name >= 1.0, <2'."""
    m = _REQ.match(requirement)
    if not m:
        raise ValueError(f"cannot read requirement {requirement!r}")
    name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    name = (aliases or {}).get(name, name)
    spec = ",".join(sorted(p for p in re.sub(r"\s+", "", m.group(2)).split(",") if p))
    return name, spec


def spec_map(requirements, aliases=None):
    specs = {}
    for req in requirements:
        name, spec = parse_spec(req, aliases)
        if name in specs:
            raise ValueError(f"{name} is listed twice")
        specs[name] = spec
    return specs


def pip_specs(pyproject):
    reqs = list(pyproject["dependencies"])
    for extra in pyproject["optional-dependencies"].values():
        reqs += extra
    return spec_map(reqs)


def conda_specs(environment):
    specs = spec_map(environment["conda"], CONDA_TO_PYPI)
    specs.pop("pip", None)
    specs.pop("python", None)
    return specs


def drift(pip, conda):
    """Human-readable differences between two {name: spec} maps; [] when in sync."""
    problems = []
    for name in sorted(pip.keys() | conda.keys()):
        if name not in conda:
            problems.append(f"{name}{pip[name]} is in pyproject.toml but not in environment.yml")
        elif name not in pip:
            problems.append(f"{name}{conda[name]} is in environment.yml but not in pyproject.toml")
        elif pip[name] != conda[name]:
            problems.append(
                f"{name}: pyproject.toml says {pip[name] or '(any)'!r}, "
                f"environment.yml says {conda[name] or '(any)'!r}"
            )
    return problems


def python_drift(pyproject, environment):
    """environment.yml pins one minor version (``python=3.12``: the form repo2docker,
    and so Binder, reads), and it must be one that pyproject.toml's range admits."""
    conda_python = [r for r in environment["conda"] if parse_spec(r)[0] == "python"]
    want = pyproject["requires-python"] or ""
    floor = re.fullmatch(r">=\s*3\.(\d+)", want)
    got = [parse_spec(r)[1] for r in conda_python]
    pinned = [re.fullmatch(r"=3\.(\d+)", spec) for spec in got]
    if not floor or len(pinned) != 1 or not pinned[0] or int(pinned[0].group(1)) < int(floor.group(1)):
        return [f"python: pyproject.toml requires {want!r}; environment.yml should pin one minor "
                f"version it admits (python=3.x), and has {got!r}"]
    return []


# -- the real files ----------------------------------------------------------


def _real():
    return read_pyproject(PYPROJECT.read_text()), read_environment(ENVIRONMENT.read_text())


def test_packages_and_versions_agree():
    pyproject, environment = _real()
    pip = pip_specs(pyproject)
    assert pip, "pyproject.toml reader found no dependencies"
    assert drift(pip, conda_specs(environment)) == []


def test_python_versions_agree():
    pyproject, environment = _real()
    assert python_drift(pyproject, environment) == []


def test_environment_installs_the_package_with_pip():
    _, environment = _real()
    assert "pip" in environment["conda"]
    assert environment["pip"] == ["-e ."]


def test_environment_uses_conda_forge_only():
    _, environment = _real()
    assert "conda-forge" in environment["channels"]
    assert set(environment["channels"]) <= ALLOWED_CHANNELS


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_pyproject_reader_agrees_with_tomllib():
    import tomllib

    project = tomllib.loads(PYPROJECT.read_text())["project"]
    mine = read_pyproject(PYPROJECT.read_text())
    assert mine["requires-python"] == project["requires-python"]
    assert mine["dependencies"] == project["dependencies"]
    assert mine["optional-dependencies"] == project.get("optional-dependencies", {})


# -- the check itself catches drift ------------------------------------------


def _drifted_environment(pattern, replacement):
    """environment.yml's text with one dependency line changed (by package name, so
    the fixtures survive version bumps)."""
    text = ENVIRONMENT.read_text()
    drifted, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"drift fixture {pattern!r} no longer matches environment.yml; update it"
    return read_environment(drifted)


@pytest.mark.parametrize(
    "pattern, replacement, expected",
    [
        (r"^(\s*- matplotlib-base).*$", r"\1>=0.1", "matplotlib"),  # version bound differs
        (r"^\s*- nbval.*\n", "", "nbval"),  # package missing from environment.yml
        (r"^(\s*- pytest.*)$", r"\1\n  - numpy", "numpy"),  # extra package
        (r"^(\s*- ipywidgets).*$", r"\1", "ipywidgets"),  # bound dropped
    ],
)
def test_drifted_environment_is_caught(pattern, replacement, expected):
    pyproject, _ = _real()
    problems = drift(pip_specs(pyproject), conda_specs(_drifted_environment(pattern, replacement)))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_drifted_pyproject_is_caught():
    _, environment = _real()
    text = PYPROJECT.read_text()
    drifted, n = re.subn(r'^(\s*)"jupyterlab', r'\1"requests",\n\1"jupyterlab', text, flags=re.MULTILINE)
    assert n == 1, "drift fixture no longer matches pyproject.toml; update it"
    problems = drift(pip_specs(read_pyproject(drifted)), conda_specs(environment))
    assert problems == ["requests is in pyproject.toml but not in environment.yml"]


def test_drifted_python_is_caught():
    pyproject, environment = _real()
    assert python_drift(pyproject, environment) == []
    for pin in (">=2.7", "=3.8", ">=3.10"):
        drifted = _drifted_environment(r"^(\s*- python)\b[^:\n]*$", r"\1" + pin)
        assert python_drift(pyproject, drifted), pin


def test_spec_normalization():
    assert parse_spec("Foo_Bar >= 1.0, <2") == ("foo-bar", "<2,>=1.0")
    assert parse_spec("matplotlib-base>=3.8", CONDA_TO_PYPI) == ("matplotlib", ">=3.8")
