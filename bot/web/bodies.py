"""JSON that Python's parser accepts but the service cannot use, refused where it is read.

Two things parse and then fail far from where they came in, as a 500: nesting deeper than
the parser's recursion allows (it raises RecursionError, not the ValueError Flask expects),
and a lone surrogate, which JSON can spell (``"\\ud800"``) but which is no character, so
that neither SQLite nor the platform can take it as UTF-8. Both are the client's mistake:
every JSON endpoint answers them 400 with the reason (JSON under /api, by its error handler).
"""

from flask import Request as FlaskRequest
from werkzeug.exceptions import BadRequest

NOT_UNICODE = ("is not valid Unicode text: it holds a lone surrogate (\\ud800 to \\udfff "
               "without its pair)")


class Request(FlaskRequest):
    def get_json(self, force=False, silent=False, cache=True):
        try:
            data = super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            raise BadRequest("the JSON is nested too deeply") from None
        where = lone_surrogate(data)
        if where is not None:
            raise BadRequest(f"{where} {NOT_UNICODE}")
        return data


def lone_surrogate(data):
    """Where in parsed JSON a string cannot be encoded (``text``, ``translations.en``,
    ``topics[1]``, ``a name``), or None. Walks without recursion: what parsed may be nested
    nearly as deep as the recursion limit."""
    pending = [(data, "the body")]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str):
            if not encodable(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                if not encodable(key):
                    return "a name"
                pending.append((item, key if where == "the body" else f"{where}.{key}"))
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
    return None


def encodable(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
