"""What a student's ``pip install`` gets: the lessons, the page's C#, a ``sockdemo`` command,
and ``sockdemo lab`` serving the learner's edition, with no repository in sight."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import WAIT


def test_the_package_carries_its_lessons_and_the_page(installed_copy):
    package = installed_copy / "sockdemo"
    lessons = sorted(p.name for p in (package / "lessons").glob("*.ipynb"))
    assert "00-start-here.ipynb" in lessons and len(lessons) >= 9
    assert (package / "page" / "SeedServer.cs").is_file()
    assert (installed_copy / "bin" / "sockdemo").is_file(), "the console script"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sockdemo_lab_from_an_installed_copy_serves_the_learners_edition(installed_copy, tmp_path):
    pytest.importorskip("jupyterlab")
    port, token, folder = free_port(), "sockdemo-test-token", tmp_path / "my-lessons"
    env = {**os.environ, "PYTHONPATH": str(installed_copy), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run")}
    proc = subprocess.Popen([sys.executable, "-m", "sockdemo", "lab", "--dir", str(folder), "--no-browser",
                             f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
                             f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/00-start-here.ipynb?token={token}"
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=WAIT) as answer:
                    body = json.load(answer)
                break
            except OSError:
                time.sleep(0.2)   # the server is starting: ask again, for at most a minute
        said = proc.stdout.read() if proc.poll() is not None else ""
        assert body is not None, f"JupyterLab never served the lesson: {said}"
        cells = ["".join(c["source"]) for c in body["content"]["cells"]]
        text = "\n".join(cells)
        assert "# SOLUTION" not in text and "# MISTAKE" not in text, "the learner's edition, answers blank"
        assert (folder / "00-start-here.ipynb").is_file()
        assert str(installed_copy) in subprocess.run(
            [sys.executable, "-c", "import sockdemo; print(sockdemo.__file__)"], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=60).stdout, "the lab ran the installed copy"
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(WAIT)
        proc.stdout.close()
