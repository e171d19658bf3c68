"""JUnit XML per backend, derived from results.json (not pytest's own XML), so that a CI system
shows every cell natively: one <testsuite> per backend, one <testcase> per scenario; XFAIL and
UNSUPPORTED are <skipped> with the reason (the finding), unexpected results are <failure> (or
<error> for ERROR) with the signature in the text."""

import xml.etree.ElementTree as ET
from pathlib import Path


def backend_xml(doc, backend):
    rows = [r for r in doc["results"] if r["backend"] == backend]
    suite = ET.Element("testsuite", name=backend, tests=str(len(rows)))
    failures = errors = skipped = 0
    total = 0.0
    for r in rows:
        area, _, name = r["scenario"].partition(".")
        case = ET.SubElement(suite, "testcase", classname=f"{backend}.{area}", name=name or r["scenario"],
                             time=f"{r.get('duration', 0):.3f}")
        total += r.get("duration", 0) or 0
        status = r.get("status", r["verdict"])
        finding = r.get("finding") or {}
        sig = r.get("signature") or ""
        if status == "XFAIL":
            skipped += 1
            ET.SubElement(case, "skipped", message=f"XFAIL: known deviation, finding {finding.get('id')} "
                                                   f"({finding.get('url')})").text = sig
        elif status == "UNSUPPORTED":
            skipped += 1
            ET.SubElement(case, "skipped", message=f"UNSUPPORTED: {r.get('message', '')}")
        elif r.get("unexpected"):
            tag = "error" if status == "ERROR" else "failure"
            failures += tag == "failure"
            errors += tag == "error"
            el = ET.SubElement(case, tag, message=f"{status}: {r.get('reason') or r.get('message', '')}", type=status)
            detail = [f"signature: {sig}"] if sig else []
            if (r.get("expectation") or {}).get("signatures") and status == "FAIL":
                detail.append("expected signature: " + " | ".join(r["expectation"]["signatures"]))
            if r.get("message"):
                detail.append(r["message"])
            if r.get("detail"):
                detail.append(f"details: {r['detail']}")
            el.text = "\n".join(detail)
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{total:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=False)


def write(out_dir, doc):
    """junit/<backend>.xml for every backend that ran; returns the paths."""
    out = Path(out_dir) / "junit"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for backend in sorted({r["backend"] for r in doc["results"]}):
        p = out / f"{backend}.xml"
        p.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + backend_xml(doc, backend) + "\n")
        paths.append(p)
    return paths
