"""MkDocs hooks: the API reference page is rendered from the service's own OpenAPI document
(``bot/web/openapi.py``) when the site is built, and the document itself is written beside it
as ``api/openapi.json``. Nothing of the API is written twice by hand, so the reference cannot
drift from what the server answers (tests hold the document to the server).

Plain Markdown tables, no plugin: the build stays offline and needs nothing beyond MkDocs.
"""

import html
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_PAGE = "api/reference.md"
MARKER = "<!-- openapi -->"
METHODS = ("get", "post", "put", "patch", "delete")


def _document():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from bot.web import openapi

    return openapi.document()


def _prose(text):
    """A description as Markdown: what stands outside code spans is text, never markup
    (``PUBLIC_URL/media/<name>`` is not an HTML tag)."""
    parts = re.split(r"(`[^`]*`)", str(text))
    return "".join(part if part.startswith("`") else html.escape(part, quote=False)
                   for part in parts)


def _cell(text):
    """Text for a table cell: one line, no column separator."""
    return _prose(" ".join(str(text).split())).replace("|", "\\|")


def _anchor(name):
    return f"schema-{name.lower()}"


def _type(schema):
    """A schema in a few words: a link to a named schema, or its type and limits."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{_anchor(name)})"
    for combined in ("oneOf", "anyOf", "allOf"):
        if combined in schema:
            return " or ".join(_type(part) for part in schema[combined])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and "items" in schema:
        kind = f"array of {_type(schema['items'])}"
    elif "properties" in schema:
        kind += " with " + ", ".join(f"`{name}`" for name in schema["properties"])
    limits = []
    if "enum" in schema:
        limits.append("one of " + ", ".join(f"`{value}`" for value in schema["enum"]))
    for key, word in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"),
                      ("maxLength", "length ≤"), ("maxItems", "items ≤")):
        if key in schema:
            limits.append(f"{word} {schema[key]}")
    if "pattern" in schema:
        limits.append(f"pattern `{schema['pattern']}`")
    if "default" in schema:
        limits.append(f"default `{json.dumps(schema['default'])}`")
    return kind + (f" ({'; '.join(limits)})" if limits else "")


def _content(content):
    return "; ".join(f"`{media}`: {_type(value.get('schema', {}))}"
                     for media, value in content.items())


def _response(document, answer):
    if "$ref" in answer:
        name = answer["$ref"].rsplit("/", 1)[1]
        answer = document["components"]["responses"][name]
    text = _cell(answer.get("description", ""))
    if answer.get("content"):
        text += " " + _content(answer["content"])
    return text


def _operation(document, path, method, operation):
    lines = [f"### `{method.upper()} {path}`", ""]
    if operation.get("summary"):
        lines += [_prose(operation["summary"]), ""]
    if operation.get("description"):
        lines += [_prose(operation["description"]), ""]
    token = operation.get("security", document.get("security"))
    lines += ["Token: " + ("`Authorization: Bearer <ADMIN_TOKEN>`." if token else "none."), ""]
    if operation.get("parameters"):
        lines += ["| parameter | in | type | meaning |", "|---|---|---|---|"]
        for parameter in operation["parameters"]:
            required = " (required)" if parameter.get("required") else ""
            lines.append(f"| `{parameter['name']}`{required} | {parameter['in']} | "
                         f"{_type(parameter.get('schema', {}))} | "
                         f"{_cell(parameter.get('description', ''))} |")
        lines.append("")
    if operation.get("requestBody"):
        lines += ["Body: " + _content(operation["requestBody"]["content"]), ""]
    lines += ["| answer | what |", "|---|---|"]
    for status, answer in operation["responses"].items():
        lines.append(f"| `{status}` | {_response(document, answer)} |")
    return lines + [""]


def _schema(name, schema):
    lines = [f"### {name} {{#{_anchor(name)}}}", ""]
    if schema.get("description"):
        lines += [_prose(schema["description"]), ""]
    properties = schema.get("properties")
    if not properties:
        return lines + [f"Type: {_type(schema)}.", ""]
    required = set(schema.get("required", ()))
    lines += ["| field | type | meaning |", "|---|---|---|"]
    for field, value in properties.items():
        mark = " (always)" if field in required else ""
        lines.append(f"| `{field}`{mark} | {_type(value)} | {_cell(value.get('description', ''))} |")
    return lines + [""]


def render(document):
    """The reference as Markdown: every operation, then every named schema."""
    lines = [_prose(document["info"]["description"]), "", "## Endpoints", ""]
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                lines += _operation(document, path, method, item[method])
    lines += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += _schema(name, schema)
    return "\n".join(lines)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == REFERENCE_PAGE:
        return markdown.replace(MARKER, render(_document()))
    return markdown


def on_files(files, config):
    """The document itself, as a file of the site (``api/openapi.json``), so that pages may
    link to it and the build checks those links."""
    from mkdocs.structure.files import File

    content = json.dumps(_document(), indent=1, ensure_ascii=False)
    files.append(File.generated(config, "api/openapi.json", content=content))
    return files
