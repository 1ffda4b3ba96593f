"""The documentation as the tests read it: the README (the front door) and the pages of the
site under docs/ (built by MkDocs, see mkdocs.yml).

Tests that hold a setting, a command or a message to the documentation read ``EVERYTHING``:
the README and every page, so that a row or a paragraph may move between them without a test
noticing anything but its absence. Tests about one page read ``page(...)``.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = {path.relative_to(DOCS).as_posix(): path.read_text(encoding="utf-8")
         for path in sorted(DOCS.rglob("*.md"))}
EVERYTHING = "\n\n".join([README, *PAGES.values()])

# The operator's pages, by what they are about.
CONFIGURATION = "operations/configuration.md"
PRODUCTION = "operations/production.md"
BACKUPS = "operations/backups.md"
MONITORING = "operations/monitoring.md"
CONSOLE = "operations/console.md"
TROUBLESHOOTING = "operations/troubleshooting.md"
PLATFORMS = "platforms.md"
DATENSCHUTZ = "datenschutz/index.md"


def page(name):
    return PAGES[name]


def section(text, heading, next_heading=None):
    """The text from ``heading`` (a whole line) to ``next_heading`` or the end."""
    start = text.index(heading + "\n")
    end = text.index(next_heading + "\n", start) if next_heading else len(text)
    return text[start:end]


# Exceptions whose message is what an operator reads when the service (web server, worker or
# an operator command) refuses to start, and the functions whose return value is such a
# message.
START_ERRORS = {"ConfigError", "TextsFileError", "DataKeyError", "SenderRunning"}
START_MESSAGES = {"_wrong_key"}


def _fragments(node):
    """The literal parts of a message expression: string constants, an f-string's text
    between its placeholders, each part of a concatenation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        out, current = [], ""
        for value in node.values:
            if isinstance(value, ast.Constant):
                current += value.value
            else:
                out.append(current)
                current = ""
        return [*out, current]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _fragments(node.left) + _fragments(node.right)
    return []


def start_error_messages():
    """Every start-up error message in bot/, as (where, literal fragments)."""
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            messages = []
            if isinstance(node, ast.Call) and node.args and getattr(
                    node.func, "id", getattr(node.func, "attr", None)) in START_ERRORS:
                messages.append(node.args[0])
            if isinstance(node, ast.FunctionDef) and node.name in START_MESSAGES:
                messages += [n.value for n in ast.walk(node)
                             if isinstance(n, ast.Return) and n.value is not None]
            for message in messages:
                fragments = _fragments(message)
                if fragments:
                    where = f"{path.relative_to(ROOT)}:{message.lineno}"
                    found.append((where, fragments))
    return found
