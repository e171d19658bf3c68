"""The matrix's page in a real browser: headless Chromium opens the generated site from file://,
uses its filters and opens diffs, and what it shows is checked against results.json (counts per
filter, a diff's text, links that resolve). Each check is also run on a deliberately wrong copy of
the site, and must fail there."""

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import browser
from conftest import FIXTURE_BACKENDS, ROOT, conform, needs_build, needs_root
from fixtures import site_report

from conformlib import report

REASON = browser.missing()
# As root, ./conform test installs the browser: a missing one is a failure, not a skip.
pytestmark = [pytest.mark.skipif(REASON is not None and os.geteuid() != 0, reason=REASON or ""),
              # One worker for the module: one browser (driver) for all of it.
              pytest.mark.xdist_group("browser")]

A, B = "fixture-emu-a", "fixture-emu-b"


@pytest.fixture(scope="module")
def driver():
    assert REASON is None, REASON
    from selenium.webdriver.common.by import By  # noqa: F401
    with browser.chromium() as d:
        yield d


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    doc = site_report.small_report(out)
    return out, doc


# ---- what results.json says -----------------------------------------------------------------

def status(r):
    return r.get("status") or r["verdict"]


def unexpected(r):
    return r["unexpected"] if r.get("unexpected") is not None else status(r) in report.UNEXPECTED_STATUSES


def deviation_of(doc):
    """(backend, scenario) -> the distinct deviation the cell belongs to."""
    out = {}
    given = doc.get("deviations") or {}
    for r in doc["results"]:
        b = r["backend"]
        if b in given:
            continue
        if r["verdict"] not in ("PASS", "UNSUPPORTED"):
            out[(b, r["scenario"])] = report.deviation_key(report.normalise(r))
    for b, devs in given.items():
        for d in devs:
            for s in d["scenarios"]:
                out[(b, s)] = d["signature"]
    return out


def expected_matches(doc, f):
    """(cells, scenarios) that a filter must show, from results.json alone."""
    native = {r["scenario"]: r["verdict"] for r in doc["results"] if r["backend"] == "native"}
    devs = deviation_of(doc)
    hits = []
    for r in doc["results"]:
        key = (r["backend"], r["scenario"])
        text = " ".join([r["scenario"], (r["message"] or "").split("\n")[0], devs.get(key, "")]).lower()
        st = f.get("status")
        if (f.get("backends") and r["backend"] not in f["backends"]
                or f.get("area") and r["area"] != f["area"]
                or st == "changed" and not r.get("change")
                or st and st != "changed" and status(r) != st
                or f.get("q") and f["q"].lower() not in text
                or f.get("native") and native.get(r["scenario"]) == r["verdict"]
                or f.get("unexpected") and not unexpected(r)
                or f.get("deviation") and devs.get(key) != f["deviation"]):
            continue
        hits.append(r)
    return len(hits), len({r["scenario"] for r in hits})


# ---- what the page shows --------------------------------------------------------------------

def by(kind):
    from selenium.webdriver.common.by import By
    return {"id": By.ID, "css": By.CSS_SELECTOR, "xpath": By.XPATH}[kind]


def open_page(driver, out, fragment=""):
    driver.get("about:blank")
    driver.get((out / "index.html").as_uri() + fragment)
    assert driver.execute_script("return document.documentElement.getAttribute('data-ready')") == "1", \
        "the page did not finish loading its data: " + str(driver.get_log("browser"))


def set_filters(driver, f):
    """Sets the explore view's filters the way a person would: checkboxes, menus, typing."""
    from selenium.webdriver.support.ui import Select
    if f.get("backends"):
        driver.find_element(by("id"), "f-none").click()
        for box in driver.find_elements(by("css"), "#f-backends input"):
            if box.get_attribute("value") in f["backends"]:
                box.click()
    if f.get("area"):
        Select(driver.find_element(by("id"), "f-area")).select_by_value(f["area"])
    if f.get("status"):
        Select(driver.find_element(by("id"), "f-status")).select_by_value(f["status"])
    if f.get("q"):
        driver.find_element(by("id"), "f-q").send_keys(f["q"])
    for name in ("native", "unexpected"):
        if f.get(name):
            driver.find_element(by("id"), f"f-{name}").click()


def shown_matches(driver):
    count = driver.find_element(by("id"), "match-count")
    cells, scenarios = int(count.get_attribute("data-cells")), int(count.get_attribute("data-scenarios"))
    rendered = len(driver.find_elements(by("css"), "#grid td.st:not(.dim)"))
    rows = len(driver.find_elements(by("css"), "#grid tr.data"))
    assert (rendered, rows) == (cells, scenarios), "the grid shows other cells than its count says"
    assert f"{cells} cell" in count.text and f"in {scenarios} scenario" in count.text
    return cells, scenarios


def check_filter(driver, out, doc, f):
    open_page(driver, out, "#explore")
    set_filters(driver, f)
    assert shown_matches(driver) == expected_matches(doc, f), f"filter {f}"


def cell_element(driver, doc, backend, scenario):
    bi = [b["name"] for b in site_data(driver)["backends"]].index(backend)
    si = doc["scenarios"].index(scenario)
    return driver.find_element(by("css"), f"#grid td[data-b='{bi}'][data-s='{si}']")


def site_data(driver):
    return driver.execute_script("return {backends: D.backends}")


STEP_LINE = re.compile(r"\s*step (\d+) \(([^)]*)\)( \[knock-on\])?:(?: (.*))?$")


def first_difference(diff):
    """The cause as the diff text says it: the first differing step not marked knock-on, with the
    line saying what differs."""
    lines = diff.splitlines()
    actor = None
    for i, line in enumerate(lines):
        if line.startswith("actor "):
            actor = line
        m = STEP_LINE.match(line)
        if m and not m.group(3):
            break
    role, _, identity = actor[len("actor "):].rstrip(":").partition(" (")
    exp = lines[i + 1].strip()[len("expected: "):]
    obs = lines[i + 2].strip()[len("observed: "):]
    return (f"actor {role} ({identity.rstrip(')')}), step {m.group(1)} ({m.group(2)}):"
            + (f" {m.group(4)}" if m.group(4) else "") + f"\nexpected: {exp}\nobserved: {obs}")


def differences(diff):
    """(step, op, expected, observed) of every differing step, in order, from the text."""
    out, lines = [], diff.splitlines()
    for i, line in enumerate(lines):
        m = STEP_LINE.match(line)
        if m:
            out.append((m.group(1), m.group(2), lines[i + 1].strip()[len("expected: "):],
                        lines[i + 2].strip()[len("observed: "):]))
    return out


def opened(driver):
    """The open cell's panel, once its details have loaded (they come from a script of their own)."""
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, 30).until(lambda d: d.find_element(by("id"), "detail").get_attribute("data-loaded"))
    return driver.find_element(by("id"), "detail")


def check_diff(driver, doc, backend, scenario):
    """Opens the cell and checks its diff against results.json: the cause first, every step with
    expected and observed, later steps of an actor marked as knock-on."""
    row = next(r for r in doc["results"] if (r["backend"], r["scenario"]) == (backend, scenario))
    cell_element(driver, doc, backend, scenario).click()
    detail = opened(driver)
    cause = detail.find_element(by("id"), "cause")
    first_block = detail.find_elements(by("css"), "#detail > p, #detail > table")[0]
    assert first_block == cause, "the cause is not the first thing shown"
    assert cause.text == "cause " + first_difference(row["diff"])
    assert detail.find_element(by("id"), "message").text == row["message"]
    steps = []
    for tr in detail.find_elements(by("css"), "#detail > table.steps > tbody > tr"):  # not the attempts
        tds = [td.text for td in tr.find_elements(by("css"), "td")]
        if tds[0] != "end":
            steps.append((tuple(tds[:4]), tds[4]))
    assert [s for s, _ in steps] == differences(row["diff"])
    tags = [t for _, t in steps]
    assert tags.count("cause") == 1 and set(tags) <= {"cause", "knock-on", "first difference of this actor"}
    # Knock-on exactly where the diff marks it (traces.diff knows what follows from what).
    marks = [bool(m.group(3)) for m in map(STEP_LINE.match, row["diff"].splitlines()) if m]
    assert [t == "knock-on" for t in tags] == marks
    return detail


def check_links(driver, out, container):
    """Every link in container resolves: a file of the results directory or of the checkout."""
    hrefs = [a.get_attribute("href") for a in container.find_elements(by("css"), "a[href]")]
    assert hrefs
    for href in hrefs:
        url = urlparse(href)
        if url.scheme == "file" and not url.path.endswith("/index.html"):
            assert Path(unquote(url.path)).exists(), f"link to a missing file: {href}"
    return hrefs


def table(driver, section):
    """A landing section's first table as {first column: {header: text}}."""
    t = driver.find_element(by("css"), f"section#{section} table")
    heads = [th.text.replace("\n", " ") for th in t.find_elements(by("css"), "thead th")]
    out = {}
    for tr in t.find_elements(by("css"), "tbody tr"):
        cells = [c.text for c in tr.find_elements(by("css"), "td, th")]
        out[cells[0]] = dict(zip(heads, cells))
    return out


def check_landing(driver, out, doc):
    open_page(driver, out)
    summary = table(driver, "summary")
    for b in {r["backend"] for r in doc["results"]}:
        rows = [r for r in doc["results"] if r["backend"] == b]
        passed = sum(r["verdict"] == "PASS" for r in rows)
        applicable = len(rows) - sum(r["verdict"] == "UNSUPPORTED" for r in rows)
        assert summary[b]["score"] == f"{100 * passed / applicable:.0f}%", b
        assert summary[b]["unexpected"] == str(sum(unexpected(r) for r in rows)), b
        with_expectations = any("status" in r for r in doc["results"])
        if with_expectations:
            assert summary[b]["expected deviations"] == str(sum(status(r) == "XFAIL" for r in rows)), b
        for st in report.STATUSES if with_expectations else report.VERDICTS:
            # A status no cell has may be left out of the table (the intro says so).
            assert summary[b].get(st, "0") == str(sum(status(r) == st for r in rows)), (b, st)
    for b, info in doc["backends"].items():
        if not any(r["backend"] == b for r in doc["results"]):
            assert summary[b]["score"] == "not run" and info["reason"] in summary[b]["unexpected"]
    devs = deviation_of(doc)
    for caption in driver.find_elements(by("css"), "section#deviations caption"):
        b = caption.text.split(":")[0]
        groups = {}
        for (backend, _), sig in devs.items():
            if backend == b:
                groups[sig] = groups.get(sig, 0) + 1
        assert caption.text == f"{b}: {len(groups)} distinct deviations in {sum(groups.values())} cells"
        counts = [int(tr.find_element(by("css"), "td").text) for tr in
                  caption.find_elements(by("xpath"), "../tbody/tr")]
        assert counts == sorted(groups.values(), reverse=True), f"{b}: not largest first"
    if doc.get("partial"):
        assert doc["partial_reason"] in driver.find_element(by("css"), ".partial").text
    return summary


# ---- the tests ------------------------------------------------------------------------------

def test_landing_view_shows_what_results_json_says(driver, site):
    out, doc = site
    check_landing(driver, out, doc)
    security = table(driver, "security")
    assert security["PrivateServerUnreachable"][A] == "breached"
    assert security["PrivateServerUnreachable"][B] == "held"
    assert security["OwnerStillReachesPrivateServer (control)"][A] == "works"
    apps = table(driver, "applications")
    assert apps["ssh-agent"][A] == "insecure (connect as stranger)" and apps["socat"][B] == "broken (peercred)"
    assert apps["ssh-agent"][B] == "-" and apps["socat"][A] == "works"
    changes = table(driver, "changes")
    for kind in report.CHANGES:
        assert changes[A][kind] == str(sum(r.get("change") == kind for r in doc["results"] if r["backend"] == A))
    assert "/tmp/afunix-left.sock" in driver.find_element(by("id"), "left-behind").text
    finding = driver.find_element(by("css"), "section#deviations a[href^='https:']")
    assert finding.text == site_report.FINDING["id"] and finding.get_attribute("href") == site_report.FINDING["url"]
    triaged = next(a for a in driver.find_elements(by("css"), "section#deviations a")
                   if a.text.startswith(site_report.TRIAGED["id"]))
    assert triaged.text == site_report.TRIAGED["id"] + " " + site_report.TRIAGED["title"]
    assert Path(unquote(urlparse(triaged.get_attribute("href")).path)) == ROOT / site_report.TRIAGED["url"]
    statuses = table(driver, "deviations")["4"]["statuses"]  # emu-a's largest deviation
    assert statuses == "2 FAIL, 2 XFAIL"
    check_links(driver, out, driver.find_element(by("id"), "overview"))


FILTERS = [
    {},
    {"backends": [B]},
    {"backends": [A, "native"]},
    {"area": "Peercred"},
    {"area": "Addressing", "backends": [A]},
    {"status": "FAIL"},
    {"status": "XFAIL"},
    {"status": "XPASS"},
    {"status": "UNSUPPORTED"},
    {"status": "changed"},
    {"q": "ConnectMissing"},
    {"q": "peercred uid"},  # a deviation's signature
    {"q": "SIGSEGV"},  # a verdict's message
    {"native": True},
    {"unexpected": True},
    {"unexpected": True, "backends": [A], "area": "Addressing"},
]


@pytest.mark.parametrize("f", FILTERS, ids=[json.dumps(f) for f in FILTERS])
def test_filter_shows_the_cells_results_json_has(driver, site, f):
    out, doc = site
    check_filter(driver, out, doc, f)


def test_filter_is_vacuous_nowhere(site):
    """Every filter above selects something, and not everything."""
    _, doc = site
    total = expected_matches(doc, {})
    for f in FILTERS[1:]:
        assert 0 < expected_matches(doc, f)[0] < total[0], f


def test_a_deviation_on_the_landing_view_opens_its_cells(driver, site):
    out, doc = site
    open_page(driver, out)
    link = driver.find_element(by("css"), "section#deviations tbody tr td a")
    count = int(link.text)
    link.click()
    from selenium.webdriver.support.ui import WebDriverWait
    # The explore view opens on the hashchange event, which comes after the click returns.
    WebDriverWait(driver, 30).until(lambda d: not d.find_element(by("id"), "explore").get_attribute("hidden"))
    assert "deviation: " in driver.find_element(by("id"), "chips").text
    assert shown_matches(driver)[0] == count


def test_an_open_diff_shows_the_cause_first_and_links_that_resolve(driver, site):
    out, doc = site
    open_page(driver, out, "#explore")
    detail = check_diff(driver, doc, A, "Addressing.ConnectMissingPath")
    assert "Finding: " + site_report.FINDING["id"] in detail.text
    hrefs = check_links(driver, out, detail)
    labels = [a.text for a in detail.find_elements(by("css"), "ul.links a")]
    assert labels[:4] == ["observed trace", "program output", "verdict and diff", "oracle trace"]
    source = next(h for h in hrefs if "conformance/scenarios/" in h)
    assert source.endswith("conformance/scenarios/addressing.cc#L10")


def test_a_retried_cell_shows_every_attempt(driver, site):
    out, doc = site
    open_page(driver, out, "#explore")
    detail = check_diff(driver, doc, A, "Peercred.AfterExec")
    text = detail.text
    assert "attempt 1: FAIL" in text and "attempt 2: PASS" in text
    check_links(driver, out, detail)
    assert any(h.endswith("attempt-1.json") for h in check_links(driver, out, detail))


def test_a_cell_without_a_diff_says_so_and_links_its_files(driver, site):
    out, doc = site
    open_page(driver, out, "#explore")
    cell_element(driver, doc, B, "Data.ShortRead").click()
    detail = opened(driver)
    assert "Same as Linux." in detail.text
    assert len(check_links(driver, out, detail)) == 5  # trace, output, verdict, oracle, source


def test_the_grid_works_from_the_keyboard(driver, site):
    from selenium.webdriver.common.keys import Keys
    out, doc = site
    open_page(driver, out, "#explore")
    first = driver.find_element(by("css"), "#grid td[tabindex='0']")
    first.send_keys(Keys.ARROW_RIGHT)
    active = driver.switch_to.active_element
    assert (active.get_attribute("data-b"), active.get_attribute("data-s")) == ("1", first.get_attribute("data-s"))
    active.send_keys(Keys.ARROW_DOWN)
    active = driver.switch_to.active_element
    row = driver.find_elements(by("css"), "#grid tr.data")[1]
    assert active == row.find_elements(by("css"), "td")[1]
    active.send_keys(Keys.ENTER)
    assert opened(driver).is_displayed()
    assert active.get_attribute("aria-expanded") == "true"
    active.send_keys(Keys.ESCAPE)
    assert not driver.find_elements(by("id"), "detail")
    assert driver.switch_to.active_element == active
    assert len(driver.find_elements(by("css"), "#grid td[tabindex='0']")) == 1  # one tab stop


def test_every_status_is_a_word_and_a_colour(driver, site):
    out, doc = site
    open_page(driver, out, "#explore")
    colours = {}
    for td in driver.find_elements(by("css"), "#grid td.st"):
        st = td.get_attribute("class").split("st-")[1].split()[0]
        assert td.text.split(" ")[0] == st, "a cell's text is not its status"
        colours.setdefault(st, set()).add(td.value_of_css_property("background-color"))
    assert set(colours) == {status(r) for r in doc["results"]}
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == len(colours), "two statuses share a colour"


def test_readable_at_1280_pixels(driver, site):
    out, doc = site
    for fragment in ("", "#explore"):
        open_page(driver, out, fragment)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 1280, f"the page{fragment} is {width} px wide"


# ---- the checks can fail ----------------------------------------------------------------------

@pytest.fixture
def broken_site(site, tmp_path):
    out, doc = site
    copy = tmp_path / "broken"
    shutil.copytree(out, copy)
    return copy, doc


def test_checks_fail_on_a_site_that_shows_a_wrong_count(driver, broken_site):
    out, doc = broken_site
    data = (out / "site" / "data.js").read_text()
    # One of emu-b's FAIL cells shown as PASS.
    codes = json.loads(data[len("afunixData("):-3])["cells"][2]
    wrong = codes.replace("F", "P", 1)
    (out / "site" / "data.js").write_text(data.replace(f'"{codes}"', f'"{wrong}"'))
    with pytest.raises(AssertionError):
        check_filter(driver, out, doc, {"status": "FAIL", "backends": [B]})


def test_checks_fail_on_a_landing_view_with_a_wrong_score(driver, broken_site):
    out, doc = broken_site
    page = (out / "index.html").read_text()
    assert page.count(">42%<") == 1
    (out / "index.html").write_text(page.replace(">42%<", ">43%<"))
    with pytest.raises(AssertionError):
        check_landing(driver, out, doc)


def test_checks_fail_on_a_broken_link(driver, broken_site):
    out, doc = broken_site
    (out / "traces" / A / "Addressing.ConnectMissingPath.json").unlink()
    open_page(driver, out, "#explore")
    detail = check_diff(driver, doc, A, "Addressing.ConnectMissingPath")
    with pytest.raises(AssertionError, match="missing file"):
        check_links(driver, out, detail)


def test_checks_fail_on_a_wrong_diff(driver, broken_site):
    out, doc = broken_site
    diffs = out / "site" / "diffs" / "1-0.js"  # fixture-emu-a, Addressing
    diffs.write_text(diffs.read_text().replace('\\"result\\": \\"EACCES\\"', '\\"result\\": \\"EPERM\\"'))
    open_page(driver, out, "#explore")
    with pytest.raises(AssertionError):
        check_diff(driver, doc, A, "Addressing.ConnectMissingPath")


# ---- on a real run ------------------------------------------------------------------------------

@needs_build
@needs_root
def test_the_site_of_a_real_run(driver, tmp_path):
    """native and a fixture backend that turns ENOENT into EACCES, over the Addressing scenarios."""
    out = tmp_path / "run"
    bad = "fixture-connect-enoent-as-eacces"
    proc = conform("run", "--backends-dir", str(ROOT / "runners" / "backends"), "--backends-dir",
                   str(FIXTURE_BACKENDS), "--backend", "native", "--backend", bad, "--results", str(out),
                   "--", "-k", "Addressing.Connect")
    assert (out / "results.json").exists(), proc.stdout[-3000:] + proc.stderr
    doc = json.loads((out / "results.json").read_text())
    assert any(r["verdict"] == "FAIL" for r in doc["results"]), "the fixture deviated nowhere"
    check_landing(driver, out, doc)
    for f in ({}, {"backends": [bad], "status": "FAIL"}, {"native": True}, {"q": "connect"}):
        check_filter(driver, out, doc, f)
    row = next(r for r in doc["results"] if r["backend"] == bad and r["verdict"] == "FAIL" and r.get("diff"))
    open_page(driver, out, "#explore")
    detail = check_diff(driver, doc, bad, row["scenario"])
    hrefs = check_links(driver, out, detail)
    # The source link names the scenario's own file and line: the TEST that defines it.
    source = next(h for h in hrefs if "conformance/scenarios/" in h)
    path, line = unquote(urlparse(source).path), int(urlparse(source).fragment[1:])
    assert row["source"] == os.path.relpath(path, ROOT) + f":{line}"
    test_name = row["scenario"].split(".", 1)[1].split("/")[0]
    assert test_name in Path(path).read_text().splitlines()[line - 1]
