"""A JupyterLab server of the test's own, in a subprocess, on 127.0.0.1.

Everything it reads or writes lives in one temporary folder: the lessons
(its root), its config, data, runtime, settings and workspaces folders, and
its log. The user's own Jupyter configuration is never read, so a setting on
the developer's machine cannot change what the test sees.

Settings it starts with (``user_settings_dir``):

- the notebook keeps every cell in the page (``windowingMode: none``): the
  default virtual scrolling would leave cells out of the DOM, or unpainted,
  until scrolled to;
- no news and no update check (the network is closed; they would only pop up
  notifications over the page), no autosave.

``--LabApp.expose_app_in_browser=True`` makes JupyterLab put its application
object at ``window.jupyterapp`` (jupyterlab/labapp.py: "Expose the global app
instance to browser via window.jupyterapp"), through which the test runs
commands (``notebook:run-all-cells``) and reads the notebook's model.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False, "fetchNews": "false"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
START_TIMEOUT = 90.0   # seconds the server may take to answer its first request
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """``JupyterLab(root, home, pythonpath).start()``; ``.stop()`` always ends it."""

    def __init__(self, root: Path, home: Path, pythonpath: str):
        self.root, self.home, self.pythonpath = Path(root), Path(home), pythonpath
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.home / "jupyter-server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, query: str = "") -> str:
        sep = "&" if query else ""
        return f"{self.base}/{path.lstrip('/')}?{query}{sep}token={self.token}"

    def _env(self) -> dict:
        env = dict(os.environ)
        for name in ("config", "data", "runtime", "ipython", "workspaces", "settings"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        env.update(JUPYTER_CONFIG_DIR=str(self.home / "config"), JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), IPYTHONDIR=str(self.home / "ipython"),
                   JUPYTER_PLATFORM_DIRS="0", JUPYTER_NO_CONFIG="1", PYTHONUNBUFFERED="1")
        # The kernel imports this checkout's sockdemo; figures go to the inline backend.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (self.pythonpath, env.get("PYTHONPATH")) if p)
        env.pop("MPLBACKEND", None)
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_TOKEN", None)
        return env

    def _write_settings(self) -> None:
        for rel, values in SETTINGS.items():
            path = self.home / "settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=1), encoding="utf-8")

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.allow_remote_access=False",
               "--LabApp.expose_app_in_browser=True",
               f"--LabApp.user_settings_dir={self.home / 'settings'}",
               f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self) -> "JupyterLab":
        self._write_settings()
        env = self._env()
        for _attempt in range(3):   # a free port can be taken between the probe and the bind
            self.port = free_port()
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen(self.command(), cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                log.close()
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"JupyterLab did not start; the end of its log ({self.log_path}):\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)   # polling interval, not a wait for something to settle
        return False

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel (each lesson's, when it is done): no lesson's servers outlive it."""
        for session in self.api("GET", "api/sessions") or []:
            self.api("DELETE", f"api/sessions/{session['id']}")
        for kernel in self.api("GET", "api/kernels") or []:
            self.api("DELETE", f"api/kernels/{kernel['id']}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:   # kernels run in sessions of their own: ask the server to end them first
            self.shutdown_kernels()
        except (urllib.error.URLError, OSError, ValueError):
            pass
        # Its own session (start_new_session): the group is the server and its kernels.
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
