"""Helpers of the browser test (``tests/test_browser.py``): a JupyterLab server
in a subprocess, a headless Chromium driven by Playwright, and what is checked
on a lesson's page."""
