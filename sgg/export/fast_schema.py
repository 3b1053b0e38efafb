"""A fast yes/no JSON Schema check for the keyword subset used by ``schema.json``.

``jsonschema`` spends ~0.2 ms per relation of a scene-graph file (its per-keyword dispatch), i.e.
minutes for a VG-sized export. This module compiles the same schema into nested closures that
answer only "valid or not" (~40x faster); the reader calls ``jsonschema`` itself only when the
answer is "not valid", to get its precise error message. The schema stays the single source of
truth: a keyword this compiler does not implement raises at compile time instead of being ignored.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["compile_schema"]

Check = Callable[[Any], bool]
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description"}


def _equal(a: Any, b: Any) -> bool:
    # JSON Schema equality: booleans are not numbers; 1 == 1.0
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def compile_schema(schema: dict, root: dict | None = None) -> Check:
    """Return ``check(instance) -> bool`` equivalent to validating ``instance`` against ``schema``."""
    root = schema if root is None else root
    checks: list[Check] = []
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "$ref":
            if not value.startswith("#/$defs/"):
                raise NotImplementedError(f"fast schema: only local '#/$defs/...' references, got {value}")
            cache: dict[str, Check] = {}
            target = root["$defs"][value.split("/")[-1]]

            def ref(v, target=target, cache=cache):
                if "c" not in cache:  # compiled lazily, allows recursive definitions
                    cache["c"] = compile_schema(target, root)
                return cache["c"](v)

            checks.append(ref)
        elif key == "type":
            types = [value] if isinstance(value, str) else list(value)
            funcs = [_TYPES[t] for t in types]
            checks.append(lambda v, funcs=funcs: any(f(v) for f in funcs))
        elif key == "const":
            checks.append(lambda v, c=value: _equal(v, c))
        elif key == "enum":
            checks.append(lambda v, options=value: any(_equal(v, o) for o in options))
        elif key == "required":
            checks.append(lambda v, req=tuple(value): not isinstance(v, dict) or all(k in v for k in req))
        elif key == "properties":
            props = {name: compile_schema(sub, root) for name, sub in value.items()}
            checks.append(
                lambda v, props=props: not isinstance(v, dict)
                or all(props[k](item) for k, item in v.items() if k in props)
            )
        elif key == "additionalProperties":
            if value is not False:
                raise NotImplementedError("fast schema: additionalProperties must be false")
            allowed = frozenset(schema.get("properties", {}))
            checks.append(lambda v, allowed=allowed: not isinstance(v, dict) or allowed.issuperset(v))
        elif key == "items":
            item = compile_schema(value, root)
            start = len(schema.get("prefixItems", []))
            checks.append(lambda v, item=item, start=start: not isinstance(v, list) or all(item(x) for x in v[start:]))
        elif key == "prefixItems":
            prefix = [compile_schema(sub, root) for sub in value]
            checks.append(lambda v, prefix=prefix: not isinstance(v, list) or all(p(x) for p, x in zip(prefix, v)))
        elif key == "minItems":
            checks.append(lambda v, n=value: not isinstance(v, list) or len(v) >= n)
        elif key == "maxItems":
            checks.append(lambda v, n=value: not isinstance(v, list) or len(v) <= n)
        elif key == "minLength":
            checks.append(lambda v, n=value: not isinstance(v, str) or len(v) >= n)
        elif key == "minimum":  # like jsonschema, NaN is not "less than" anything and passes
            checks.append(lambda v, m=value: not _is_number(v) or not v < m)
        elif key == "maximum":
            checks.append(lambda v, m=value: not _is_number(v) or not v > m)
        else:
            raise NotImplementedError(f"fast schema: keyword '{key}' is not supported")
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)
