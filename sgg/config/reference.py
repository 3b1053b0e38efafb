"""The config reference page (``docs/config_reference.md``), generated from :func:`get_cfg`.

Every key's description is the one-line ``# comment`` on the line that assigns its default in
``sgg/config/{defaults,detector,relation,auxiliary}.py``. The assignments are read with ``ast``
(following aliases such as ``cfg.MODEL.ROI_RELATION_HEAD = _C = CN()``) and the comments with
``tokenize``, so the page cannot drift from the code: ``tools/dump_config_reference.py --check``
and a test compare the committed page with a fresh rendering.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable
from pathlib import Path

from .config import CfgNode, all_keys
from .defaults import get_cfg

__all__ = ["CONFIG_SOURCES", "config_comments", "render_config_reference"]

#: the modules whose assignments define the defaults, in the order ``get_cfg`` applies them
CONFIG_SOURCES = ("defaults.py", "detector.py", "relation.py", "auxiliary.py")


def _line_comments(source: str) -> dict[int, str]:
    """Line number -> text of the ``#`` comment on that line."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``cfg.MODEL.X`` / ``_C.X`` -> ``"MODEL.X"`` / ``"<alias path>.X"`` (None if not a config path)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    prefix = aliases[node.id]
    return ".".join(([prefix] if prefix else []) + parts[::-1])


def _is_node_call(value: ast.AST) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("CN", "CfgNode")
    )


def _statements(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """Statements in source order, descending into if/for/with/try blocks."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(stmt, field, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            yield from _statements(handler.body)


def _comments_of(source: str, where: str) -> dict[str, str]:
    comments = _line_comments(source)
    out: dict[str, str] = {}
    for func in ast.parse(source, filename=where).body:
        if not isinstance(func, ast.FunctionDef):
            continue
        aliases = {"cfg": ""}  # the add_*_config(cfg) argument is the root
        for stmt in _statements(func.body):
            if not isinstance(stmt, ast.Assign):
                continue
            if _is_node_call(stmt.value):
                paths = [_dotted(t, aliases) for t in stmt.targets if isinstance(t, ast.Attribute)]
                path = next((p for p in paths if p is not None), "")
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        aliases[target.id] = path
                continue
            if len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                alias = _dotted(stmt.value, aliases) if isinstance(stmt.value, ast.Attribute) else None
                if alias is not None:
                    aliases[stmt.targets[0].id] = alias
                continue
            for target in stmt.targets:
                key = _dotted(target, aliases)
                if key is None:
                    continue
                text = next(
                    (
                        comments[n]
                        for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)
                        if n in comments
                    ),
                    "",
                )
                out[key] = text
    return out


def config_comments(config_dir: str | Path | None = None) -> dict[str, str]:
    """``"MODEL.ROI_RELATION_HEAD.PREDICTOR" -> "relation head: ..."`` for every commented default."""
    folder = Path(config_dir) if config_dir else Path(__file__).resolve().parent
    out: dict[str, str] = {}
    for name in CONFIG_SOURCES:
        path = folder / name
        out.update(_comments_of(path.read_text(encoding="utf-8"), str(path)))
    return out


def _format_default(value) -> str:
    if isinstance(value, str):
        text = f'"{value}"'
    elif isinstance(value, tuple):
        text = (
            "("
            + ", ".join(_format_default(v).strip("`") for v in value)
            + ("," if len(value) == 1 else "")
            + ")"
        )
    elif isinstance(value, list):
        text = "[" + ", ".join(_format_default(v).strip("`") for v in value) + "]"
    else:
        text = repr(value)
    return f"`{text}`"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _group_of(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "MODEL" and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0] if len(parts) > 1 else "(top level)"


def render_config_reference(cfg: CfgNode | None = None, comments: dict[str, str] | None = None) -> str:
    """The markdown page: one table per key group (``MODEL.ROI_RELATION_HEAD``, ``SOLVER``, ...)."""
    cfg = cfg if cfg is not None else get_cfg()
    comments = comments if comments is not None else config_comments()
    keys = all_keys(cfg)
    lines = [
        "# Config reference",
        "",
        "<!-- GENERATED by tools/dump_config_reference.py from sgg.config.get_cfg(); do not edit. -->",
        "",
        f"All {len(keys)} keys of `sgg.config.get_cfg()` with their defaults. Override them in a YAML file "
        "(`_BASE_` inheritance) or on the command line as trailing `KEY VALUE` pairs, e.g. "
        "`MODEL.ROI_RELATION_HEAD.USE_GT_BOX False`. An unknown key is an error that names the closest "
        "known key.",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(_group_of(key), []).append(key)
    lines += [
        "Groups: "
        + ", ".join(
            f"[`{g}`](#{g.lower().replace('.', '').replace('(', '').replace(')', '').replace(' ', '-')})"
            for g in groups
        ),
        "",
    ]
    for group, members in groups.items():
        lines += [f"## {group}", "", "| Key | Default | Description |", "| --- | --- | --- |"]
        for key in members:
            node = cfg
            for part in key.split("."):
                node = node[part]
            lines.append(f"| `{key}` | {_escape(_format_default(node))} | {_escape(comments.get(key, ''))} |")
        lines.append("")
    return "\n".join(lines)
