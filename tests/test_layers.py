"""The import direction app -> indexer -> models (and torch-free decode workers), checked by import-linter."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint_imports, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout


SOURCE_DIRS = ("app", "indexer", "models", "templates", "benchmarks")
SOURCE_SUFFIXES = {".py", ".js", ".css", ".html"}
MAX_FILE_LINES = 400  # a longer file is usually two modules
MAX_FUNCTION_LINES = 60  # a longer function is usually a missing name


def _sources():
    for folder in SOURCE_DIRS:
        yield from (p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in SOURCE_SUFFIXES and p.is_file())


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert not long, f"split these files (at most {MAX_FILE_LINES} lines each): {long}"


def test_no_function_is_over_60_lines():
    import ast

    long = {}
    for path in (p for p in _sources() if p.suffix == ".py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert not long, f"give these functions' steps names (at most {MAX_FUNCTION_LINES} lines each): {long}"
