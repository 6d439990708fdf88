"""Debian's chromium, driven by Playwright in a process of its own: one JSON command a line on stdin, one answer on stdout.

The tests' process runs under eventlet's monkey-patching (for nameko), which Playwright's sync API,
built on greenlets of its own, does not survive; so the tests send this process what to do.
Every context refuses, and records, any request that would leave 127.0.0.1.
"""

import json
import sys
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


class Driver:
    def __init__(self, playwright):
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                  args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        self.contexts, self.pages, self.outside = {}, {}, {}

    def new_context(self, name):
        # axe-core is injected as a script: the pages' Content-Security-Policy allows no inline script
        context = self.browser.new_context(bypass_csp=True, accept_downloads=True, locale="it-IT")
        self.outside[name] = []

        def only_local(route):
            if urlsplit(route.request.url).hostname != "127.0.0.1":
                self.outside[name].append(route.request.url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", only_local)
        self.contexts[name], self.pages[name] = context, context.new_page()

    def goto(self, name, url):
        response = self.pages[name].goto(url)
        return {"status": response.status if response else None, "url": self.pages[name].url}

    def submit(self, name, selector):
        """Click a form's button and wait for the page it leads to."""
        page = self.pages[name]
        with page.expect_navigation() as navigation:
            page.click(selector)
        response = navigation.value
        return {"status": response.status if response else None, "url": page.url}

    def click(self, name, selector):
        self.pages[name].click(selector)

    def order(self, name, selector):
        """The data-item of each item of a ranking list, in the order shown."""
        return self.pages[name].eval_on_selector_all(selector + " .ranking-item", "els => els.map(e => e.dataset.item)")

    def drag(self, name, source, target):
        """Drag with the mouse: press on source, move over the top of target, release."""
        self.pages[name].drag_and_drop(source, target, target_position={"x": 5, "y": 2})

    def value(self, name, selector):
        return self.pages[name].input_value(selector)

    def no_script(self, name):
        """The page's own script never loads: the pages must work without it."""
        self.pages[name].route("**/static/app/graduatoria.js", lambda route: route.abort())

    def focused(self, name):
        return self.pages[name].evaluate("() => document.activeElement && document.activeElement.id")

    def check(self, name, selector):
        self.pages[name].check(selector, force=True)  # Bootstrap Italia draws the label over its radio

    def checked(self, name, selector):
        return self.pages[name].is_checked(selector)

    def select(self, name, selector, value):
        self.pages[name].select_option(selector, value)

    def fill(self, name, selector, value):
        self.pages[name].fill(selector, value)

    def text(self, name, selector):
        return self.pages[name].inner_text(selector)

    def title(self, name):
        return self.pages[name].title()

    def cookies(self, name):
        return self.contexts[name].cookies()

    def post(self, name, url, form):
        response = self.contexts[name].request.post(url, form=form, max_redirects=0)
        return {"status": response.status, "text": response.text()}

    def attach(self, name, selector, path):
        """Choose a file in a form's file field, as a person does in the file picker."""
        self.pages[name].set_input_files(selector, path)

    def post_multipart(self, name, url, fields, file_name, file_text):
        """A multipart form sent straight, with this context's cookies: a form the page did not give."""
        multipart = {**fields, "file": {"name": file_name, "mimeType": "application/octet-stream",
                                        "buffer": file_text.encode()}}
        response = self.contexts[name].request.post(url, multipart=multipart, max_redirects=0)
        return {"status": response.status, "text": response.text()}

    def screenshot(self, name, path):
        self.pages[name].screenshot(path=path, full_page=True)

    def axe(self, name, script):
        page = self.pages[name]
        page.add_script_tag(path=script)
        return page.evaluate(
            "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
            "'best-practice']})).violations.map(v => ({id: v.id, impact: v.impact, "
            "nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))")

    def requests_outside(self, name):
        return self.outside[name]

    def download(self, name, selector, path):
        page = self.pages[name]
        with page.expect_download() as download:
            page.click(selector)
        download.value.save_as(path)
        return download.value.suggested_filename

    def close(self, name):
        self.contexts.pop(name).close()


def main():
    with sync_playwright() as playwright:
        driver = Driver(playwright)
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command["op"] == "quit":
                break
            try:
                answer = {"ok": getattr(driver, command["op"])(*command["args"])}
            except Exception as error:  # the test reads it and fails with it
                answer = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps(answer), flush=True)
        driver.browser.close()


if __name__ == "__main__":
    main()
