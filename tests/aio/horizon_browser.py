# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium) signs in to Horizon as the admin of an environment directory's ``clouds.yaml``,
opens the instances page and finds a server there, then saves a screenshot of the page.

The server is booted for the check (the test image's flavor and image, no network: ACTIVE in seconds)
and deleted again; ``--server NAME`` uses an existing one instead. The dashboard's address defaults
to the host of the public identity endpoint (the external VIP) on the scheme's own port.

Run by ``make aio`` (after playbooks/aio.yml) and by the ``aio`` molecule scenario:
    .venv/bin/python tests/aio/horizon_browser.py --env /etc/lxstack/aio --screenshot horizon.png
Exit status 0 when the server is on the page, 1 otherwise (the screenshot shows what the browser saw).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
import urllib.parse

import openstack
import yaml
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
IMAGE_TAG = "lxstack-guest"
FLAVOR = "lxstack.guest"
SERVER = "lxstack-browser-check"


def dashboard_url(cloud: dict) -> str:
    """The dashboard's root: the public identity endpoint's scheme and host, the scheme's own port."""
    parts = urllib.parse.urlsplit(cloud["auth"]["auth_url"])
    host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
    return "%s://%s/" % (parts.scheme, host)


def load_cloud(env: pathlib.Path, name: str) -> dict:
    clouds = yaml.safe_load((env / "clouds.yaml").read_text())["clouds"]
    if name not in clouds:
        raise SystemExit("%s: no cloud %r (clouds: %s)" % (env / "clouds.yaml", name, ", ".join(clouds)))
    return clouds[name]


def boot_server(conn, name: str, timeout: int):
    """A server of the test image without a network, ACTIVE (an old one of the same name goes first)."""
    for old in conn.compute.servers(name="^%s$" % name):
        conn.compute.delete_server(old)
        conn.compute.wait_for_delete(old, wait=timeout)
    image = next(iter(conn.image.images(tag=IMAGE_TAG)), None)
    if image is None:
        raise SystemExit("no image tagged %s (playbooks/compute.yml uploads it)" % IMAGE_TAG)
    flavor = conn.compute.find_flavor(FLAVOR, ignore_missing=False)
    server = conn.compute.create_server(name=name, image_id=image.id, flavor_id=flavor.id, networks="none")
    return conn.compute.wait_for_server(server, wait=timeout)


def browser(window: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # root needs --no-sandbox; the deployment's CA is not in Chromium's own store (the API clients
    # verify it; here the page is what is checked)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=" + window, "--ignore-certificate-errors"):
        options.add_argument(argument)
    options.accept_insecure_certs = True
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def check(driver, url: str, user: str, password: str, server: str, timeout: int) -> str:
    """Sign in, open the instances page, wait for the server's row; returns what was seen."""
    wait = WebDriverWait(driver, timeout)
    driver.get(url + "auth/login/")
    wait.until(expected_conditions.presence_of_element_located((By.ID, "id_username")))
    driver.find_element(By.ID, "id_username").send_keys(user)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.ID, "loginBtn").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)
    driver.get(url + "project/instances/")
    wait.until(expected_conditions.presence_of_element_located(
        (By.XPATH, "//table[@id='instances']//a[normalize-space()='%s']" % server)))
    return driver.title


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", type=pathlib.Path, required=True, help="environment directory (clouds.yaml)")
    parser.add_argument("--cloud", default="admin", help="cloud of clouds.yaml (default: admin)")
    parser.add_argument("--url", help="the dashboard's root URL (default: from the public identity endpoint)")
    parser.add_argument("--server", help="an existing server to find (default: boot one, delete it after)")
    parser.add_argument("--screenshot", type=pathlib.Path, required=True, help="PNG of the instances page")
    parser.add_argument("--timeout", type=int, default=120, help="seconds for each wait (default: 120)")
    args = parser.parse_args(argv)

    cloud = load_cloud(args.env, args.cloud)
    url = args.url or dashboard_url(cloud)
    url = url if url.endswith("/") else url + "/"
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(args.env / "clouds.yaml")
    conn = openstack.connect(cloud=args.cloud)
    name = args.server or SERVER
    started = time.monotonic()
    server = None if args.server else boot_server(conn, name, args.timeout)
    driver = None
    try:
        driver = browser("1400,900")
        title = check(driver, url, cloud["auth"]["username"], cloud["auth"]["password"], name, args.timeout)
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.screenshot))
        print("dashboard: %s signed in at %s, the instances page (%s) lists %s; screenshot %s (%.0f s)"
              % (cloud["auth"]["username"], url, title, name, args.screenshot, time.monotonic() - started))
        return 0
    except (TimeoutException, WebDriverException) as error:
        seen = ""
        if driver is not None:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.screenshot))
            seen = " at %s (%s)" % (driver.current_url, driver.title)
        print("dashboard: FAILED to find %s on the instances page%s: %s; screenshot %s"
              % (name, seen, str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                 args.screenshot), file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
