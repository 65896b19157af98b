"""Sphinx extension: drop duplicate <script> entries from every page.

Jupyter Book 1.0.4 with sphinx-thebe 0.3.1 emits the inline ``const THEBE_JS_URL = ...`` script twice,
which is a JavaScript SyntaxError in every page's console (found by tests/browser/bookcheck.py).
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # same file and attributes (an inline script's text is its "body" attribute), any priority;
        # inline scripts come with filename None or "" depending on the extension that added them
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
