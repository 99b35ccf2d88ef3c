"""The embeddable estimation form: plain HTML, CSS and JavaScript, no build step.

`static/estimation.js` is the loader a partner site includes (served at `/embed/estimation.js`);
it inserts an iframe on `/forms/estimation` (`static/form.html`), whose `form.css` and `form.js`
are served under `/forms/static/`.
"""

from __future__ import annotations

import pathlib

STATIC_DIR = pathlib.Path(__file__).parent / "static"
