"""Headless Chromium for the tests and the benchmark, driven through WebDriver (Debian's
chromium, chromium-driver and python3-selenium; ./conform setup and ./conform test install them).
Nothing is downloaded: the driver is Debian's, named by path, so Selenium's own driver manager
never runs."""

import contextlib
import shutil
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing():
    """Why there is no browser to test with, or None."""
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (./conform setup installs it)"
    if not Path(CHROMEDRIVER).exists():
        return "chromium-driver is not installed (./conform setup installs it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed (./conform setup installs it)"
    return None


@contextlib.contextmanager
def chromium(width=1280, height=900):
    """A headless Chromium window of the given size, with its own profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="afunix-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "--hide-scrollbars",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(120)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def page_height(driver):
    return driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")


def screenshots(results, docs, open_cell):
    """docs/matrix-overview.png and docs/matrix-diff.png from a results directory, at 1280 px.
    open_cell: 'backend:scenario' whose diff the second one shows."""
    import time
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    page = (Path(results) / "index.html").resolve().as_uri()
    with chromium(1280, 1500) as d:
        d.get(page)
        d.save_screenshot(str(Path(docs) / "matrix-overview.png"))
    with chromium(1280, 1000) as d:
        backend, scenario = open_cell.split(":", 1)
        area = scenario.split(".", 1)[0].split("/")[-1]
        d.get(page + f"#explore?area={area}&status=deviating&open={open_cell}")
        WebDriverWait(d, 30).until(lambda x: x.find_element(By.ID, "detail").get_attribute("data-loaded"))
        d.execute_script("document.getElementById('detail').closest('tr').previousElementSibling"
                         ".scrollIntoView({block: 'start'}); window.scrollBy(0, -60)")
        time.sleep(0.3)
        d.save_screenshot(str(Path(docs) / "matrix-diff.png"))


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 4:
        sys.exit("usage: tests/browser.py RESULTS_DIR DOCS_DIR BACKEND:SCENARIO  (writes the README's screenshots)")
    screenshots(*sys.argv[1:])
