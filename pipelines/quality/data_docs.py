"""The Great Expectations Data Docs of a night, made to open inside the bureau's network.

GX renders its pages with styles and scripts from public CDNs and its logo from the
vendor's servers (with the data context's id in the address). Offline, the pages lose
their layout and the index lists nothing: its tables are filled by a script from a CDN.
After GX renders, every page here loses its scripts and remote stylesheets (GX's own
stylesheet, shipped in `static/`, stays) and takes the logo from `static/`; the index is
replaced by a plain page listing every validation result and expectation suite. Opening
them fetches nothing from outside."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref=[\"'](?:https?:)?//[^>]*>", re.IGNORECASE)
_REMOTE_IMG = re.compile(r"(<img\b[^>]*\bsrc=)[\"'](?:https?:)?//[^\"']*[\"']", re.IGNORECASE)
_REMOTE_CSS_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)
_LOGO = "static/images/logo-long.png"
INDEX = "index.html"


def offline_page(page: str, logo: str) -> str:
    """`page` without scripts or remote stylesheets, its remote images (in tags and in
    styles) replaced by `logo`."""
    page = _SCRIPT.sub("", page)
    page = _REMOTE_LINK.sub("", page)
    page = _REMOTE_CSS_URL.sub(f"url('{logo}')", page)
    return _REMOTE_IMG.sub(lambda m: f'{m.group(1)}"{logo}"', page)


def make_offline(docs_dir: Path, store: Path) -> Path:
    """Rewrite every page of the site in `docs_dir` to fetch nothing remote, and write its
    index: each validation result (its suite, whether it passed by its result in GX's
    `store` of validation results, a link) and each expectation suite. Returns the index."""
    docs_dir = Path(docs_dir)
    for page in sorted(docs_dir.rglob("*.html")):
        if page.name == INDEX and page.parent == docs_dir:
            continue
        logo = os.path.relpath(docs_dir / _LOGO, page.parent)
        page.write_text(offline_page(page.read_text(encoding="utf-8"), logo), encoding="utf-8")
    index = docs_dir / INDEX
    index.write_text(_index(docs_dir, store), encoding="utf-8")
    return index


def _passed(store: Path, docs_dir: Path, page: Path) -> bool | None:
    """Whether the validation result rendered as `page` succeeded, from GX's result store
    (the same path there, in JSON)."""
    stored = (store / page.relative_to(docs_dir)).with_suffix(".json")
    try:
        return bool(json.loads(stored.read_text(encoding="utf-8"))["success"])
    except (OSError, ValueError, KeyError):
        return None


def _index(docs_dir: Path, store: Path) -> str:
    rows = []
    # validations/<suite>/<run name>/<run time>/<batch>.html
    for page in sorted(docs_dir.glob("validations/*/*/*/*.html")):
        suite, run_name, run_time = page.relative_to(docs_dir / "validations").parts[:3]
        passed = _passed(store, docs_dir, page)
        verdict = {True: "passed", False: "failed", None: "unknown"}[passed]
        rows.append(
            f'<tr class="{verdict}"><td><a href="{html.escape(page.relative_to(docs_dir).as_posix())}">'
            f"{html.escape(suite)}</a></td><td>{verdict}</td><td>{html.escape(run_name)}</td>"
            f"<td>{html.escape(run_time)}</td></tr>"
        )
    suites = [
        f'<li><a href="expectations/{html.escape(p.name)}">{html.escape(p.stem)}</a></li>'
        for p in sorted(docs_dir.glob("expectations/*.html"))
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lipmon quality: Data Docs</title>
<link rel="stylesheet" href="static/styles/data_docs_default_styles.css">
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.2em 1em;text-align:left}}
tr.failed td{{color:#b00020;font-weight:bold}}</style></head>
<body><h1>Data Docs: the night's quality gate</h1>
<p>Great Expectations' validation results of each source landed this night, and the suites
they ran. Every page opens without a network.</p>
<h2 id="validation-results">Validation results</h2>
<table id="validation-results-table"><thead><tr><th>source (suite)</th><th>outcome</th>
<th>run</th><th>run time (UTC)</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<h2 id="expectation-suites">Expectation suites</h2>
<ul id="expectation-suites-list">{"".join(suites)}</ul>
</body></html>
"""
