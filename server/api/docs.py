"""A self-contained docs page (no external assets) rendered from the OpenAPI document."""

from __future__ import annotations

import html
from typing import Any


def render(document: dict[str, Any]) -> str:
    info = document["info"]
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security") or []
            auth = ", ".join(next(iter(s)) for s in security) if security else "public"
            body = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            request = body.get("$ref", "").rsplit("/", 1)[-1]
            statuses = ", ".join(operation["responses"])
            rows.append(
                "<tr>"
                f"<td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation['summary'])}</td><td>{auth}</td>"
                f"<td>{html.escape(request)}</td><td>{statuses}</td>"
                "</tr>"
            )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(info["title"])} API</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem; background: #0f172a; color: #e2e8f0; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #334155; padding: .4rem .6rem; text-align: left; vertical-align: top; }}
code {{ color: #a5b4fc; }} a {{ color: #7dd3fc; }}
</style></head><body>
<h1>{html.escape(info["title"])} <small>v{html.escape(info["version"])}</small></h1>
<p>{html.escape(info.get("description", ""))}</p>
<p>The machine-readable contract: <a href="openapi.json">openapi.json</a> (OpenAPI 3.1).
Errors are <code>application/problem+json</code> (RFC 9457) with per-field <code>errors</code>.</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>auth</th><th>body</th><th>responses</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""
