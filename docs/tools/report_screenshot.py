"""A copy of a Snakemake report that opens on one result (for a headless-browser screenshot).

Snakemake's report is a single-page app with no deep links; this appends a script that shows
`--result` (e.g. out/report/pathways.png) in its category once the page has rendered. Then:
chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=5000 --window-size=1400,900 \
    --user-data-dir=$(mktemp -d) --screenshot=docs/report.png file://$PWD/report-shot.html
"""

import argparse
import json
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("report", help="report.html from snakemake --report")
p.add_argument("--result", default="out/report/pathways.png")
p.add_argument("--category", default="Connectome")
p.add_argument("--out", default="report-shot.html")
a = p.parse_args()
html = Path(a.report).read_text()
view = {
    "navbarMode": "subcategory",
    "category": a.category,
    "subcategory": "Other",
    "content": "img",
    "resultPath": a.result,
}
script = (
    f"<script>setTimeout(function(){{var v={json.dumps(view)};"
    f"v.contentPath=results[v.resultPath].data_uri;app.setView(v);}},300);</script>"
)
i = html.rfind("</body>")
Path(a.out).write_text(html[:i] + script + html[i:])
