"""The layers hold, measured from the code: who imports whom, and where each platform's words
are (Twilio's, Meta's)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bot"
# The platforms: a package of leaves, one module per platform, and what they share.
SEAM = "bot.platforms"
TWILIO = "bot.platforms.twilio"
META = "bot.platforms.meta"
PLATFORM_MODULES = {SEAM, "bot.platforms.base", TWILIO, META}
LEAVES = {"bot.config", "bot.texts", "bot.phone", "bot.vault", "bot.logs", "bot.vocabulary",
          "bot.process", "bot.wording", "bot.texts_file", "bot.nina", "bot.images",
          "bot.http_client", "bot.whatsapp_text", "bot.uploads", "bot.videos",
          "bot.documents", *PLATFORM_MODULES}
# Which layer may import which (besides itself and the leaves).
MAY_IMPORT = {
    "store": set(),
    "domain": {"store"},
    "delivery": {"store", "domain"},
    "web": {"store", "domain"},
    "ops": {"store", "domain", "delivery"},
}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name, path, known=()):
    """Every module this one imports (at any depth of the file), as absolute names.

    ``from . import x`` counts as importing the module ``x`` when there is one, not its
    package (whose ``__init__`` Python runs first, but which it does not depend on).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            submodules = {f"{target}.{alias.name}" for alias in node.names} & set(known)
            found.update(submodules)
            if node.module or len(submodules) < len(node.names):
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph():
    known = modules()
    edges = {}
    for name, path in known.items():
        edges[name] = {target for target in imports_of(name, path, known)
                       if target in known or not target.startswith("bot")}
    return edges


def ours(targets):
    return {t for t in targets if t == "bot" or t.startswith("bot.")}


def layer(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) else None


def reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(t for t in graph.get(current, ()) if t in graph)
    return seen


def test_only_the_seam_imports_twilio(graph):
    importers = {name for name, targets in graph.items()
                 if any(t == "twilio" or t.startswith("twilio.") for t in targets)}
    assert importers == {TWILIO}


TWILIO_WORDS = re.compile(
    r"MessageSid|SmsSid|SmsMessageSid|MessageStatus|SmsStatus|X-Twilio|ErrorCode|AccountSid"
    r"|NumMedia|MediaUrl|MediaContentType|whatsapp:|\b(?:2\d{4}|6\d{4})\b")


# Meta's field names, header, query parameters, address and the codes that cannot be mistaken
# for another number (its small ones, 0, 4, 100, 190, 368, can).
META_WORDS = re.compile(
    r"(?i:x-hub-signature)|hub\.(?:mode|verify_token|challenge)|messaging_product"
    r"|recipient_type|recipient_id|whatsapp_business_account|phone_number_id|\bwa_id\b|wamid"
    r"|graph\.facebook|error_subcode|fbtrace_id|button_reply|list_reply"
    r"|\b(?:130429|131000|131016|131026|131031|131047|131048|131049|131050|131056|132000"
    r"|132001|132005|132007|132012|132018|133010|80007)\b")


# Swagger UI's files, copied from its npm package (GET /api/docs): not our code.
VENDORED = PACKAGE / "web" / "static" / "swagger-ui"


def words_outside(pattern, module):
    """Lines of the code, templates and schema that match ``pattern``, outside ``module``."""
    places = [path for path in PACKAGE.rglob("*") if path.suffix in (".py", ".html", ".js")
              and VENDORED not in path.parents]
    places.append(ROOT / "schema.sql")
    offenders = []
    for path in places:
        if path == module:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return offenders


def test_twilio_field_names_and_error_codes_appear_only_in_the_seam():
    assert words_outside(TWILIO_WORDS, PACKAGE / "platforms" / "twilio.py") == []


def test_meta_field_names_headers_and_error_codes_appear_only_in_its_module():
    assert words_outside(META_WORDS, PACKAGE / "platforms" / "meta.py") == []


def test_the_meta_words_are_those_its_module_uses():
    """The pattern finds what it is meant to: each family of words occurs in the module."""
    text = (PACKAGE / "platforms" / "meta.py").read_text(encoding="utf-8")
    for word in ("X-Hub-Signature-256", "hub.challenge", "messaging_product", "wamid",
                 "graph.facebook", "whatsapp_business_account", "130429", "131049", "132018",
                 "133010", "button_reply"):
        assert word in text and META_WORDS.search(word), word


def test_the_send_loop_imports_no_flask_or_werkzeug(graph):
    for start in ("bot.delivery.worker", "bot.delivery.sender"):
        for name in reachable(graph, start):
            web_framework = {t for t in graph[name] if t.split(".")[0] in ("flask", "werkzeug")}
            assert not web_framework, f"{start} reaches {name}, which imports {web_framework}"


def test_the_worker_loads_without_flask():
    """Measured in a fresh interpreter, not only read from the code."""
    check = ("import sys, bot.delivery.worker, bot.store.retention; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_nothing_outside_the_web_layer_imports_it(graph):
    for name, targets in graph.items():
        if name.startswith("bot.web") or name == "bot":
            continue  # bot/__init__.py is the app factory that assembles the layers
        assert not {t for t in targets if t == "bot.web" or t.startswith("bot.web.")}, name


def test_each_layer_imports_only_the_layers_below_it_and_the_leaves(graph):
    for name, targets in graph.items():
        own = layer(name)
        for target in ours(targets) - {"bot"}:
            if target in LEAVES:
                continue
            other = layer(target)
            if name in LEAVES:
                pytest.fail(f"leaf {name} imports {target}")
            if own is None or other == own:
                continue
            assert other in MAY_IMPORT[own], f"{name} ({own}) imports {target} ({other})"


def test_leaves_import_nothing_of_ours_but_other_leaves(graph):
    for name in LEAVES:
        assert ours(graph[name]) - {"bot"} <= LEAVES, name


def test_there_are_no_import_cycles(graph):
    ours_only = {name: ours(targets) & set(graph) for name, targets in graph.items()}
    # A package's __init__ may import its own submodules (registration); that is not a cycle
    # of meaning, so a package is left out of the edges its submodules have to it.
    for name, targets in ours_only.items():
        targets.discard(name)
        for target in list(targets):
            if name.startswith(target + "."):
                targets.discard(target)
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in ours_only[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in ours_only:
        if node not in index:
            visit(node)
    assert cycles == []


def test_long_modules_say_why_they_are_long():
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 300:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            assert "long" in docstring.lower(), f"{name} has over 300 lines and no reason"
