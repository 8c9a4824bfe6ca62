"""Start a throwaway JupyterLab or Notebook 7 and drive it with Playwright + Debian's Chromium (browser tests, benchmarks)."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-gpu"]
# no kernel picker, no news / update toasts over the page
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def chromium_path() -> str | None:
    """Debian's chromium binary, or None when it is not installed."""
    env = os.environ.get("TEACHKIT_CHROMIUM")
    for path in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if path and Path(path).exists():
            return path
    return shutil.which("chromium")


def free_port() -> int:
    """An unused localhost TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FRONT_ENDS = ("lab", "notebook")


@contextmanager
def jupyter_lab(root: Path, timeout: float = 90.0, app: str = "lab", repo: Path | None = None):
    """Run JupyterLab (app="lab") or Notebook 7 (app="notebook") in `root` (own config/runtime dirs, a token,
    a free port); yields (base_url, token, log). The kernel imports teachkit from `repo` (default: this checkout)."""
    if app not in FRONT_ENDS:
        raise ValueError(f"app={app!r}: choose one of {FRONT_ENDS}")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(root / f".{name.lower()}")
    settings = root / ".user-settings"
    for plugin, values in USER_SETTINGS.items() if app == "lab" else ():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env["PYTHONPATH"] = os.pathsep.join([str(repo or REPO), env.get("PYTHONPATH", "")])
    env.pop("MPLBACKEND", None)
    env.setdefault("OMP_NUM_THREADS", "1")
    log = open(root / f"jupyter{app}.log", "w")
    cmd = [sys.executable, "-m", "jupyterlab" if app == "lab" else "notebook", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if app == "lab":
        cmd += [f"--LabApp.workspaces_dir={root / '.workspaces'}", f"--LabApp.user_settings_dir={settings}",
                "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    else:
        cmd += [f"--JupyterNotebookApp.user_settings_dir={settings}",
                f"--LabServerApp.workspaces_dir={root / '.workspaces'}"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Jupyter {app} exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s; see {log.name}")
            time.sleep(0.3)
        yield base, token, Path(log.name)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@contextmanager
def chromium_page(viewport=(1400, 1100)):
    """A headless Chromium page (Playwright with the system chromium, never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def wait_kernel_idle(base: str, token: str, timeout: float = 60.0) -> None:
    """Wait (REST API, the same for every front end) until a kernel has a browser connected and is idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as r:
                kernels = json.load(r)
        except OSError:  # e.g. a 500 while a kernel starts (jupyter_server: last_activity not yet set)
            kernels = []
        if any(k.get("execution_state") == "idle" and k.get("connections", 0) > 0 for k in kernels):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no connected idle kernel within {timeout:.0f} s")


def open_and_run_all(page, base: str, token: str, notebook: str, timeout_ms: int = 60_000, app: str = "lab") -> None:
    """Open a notebook in JupyterLab (fresh workspace) or Notebook 7 and run all its cells from the Run menu."""
    page.set_default_timeout(timeout_ms)
    if app == "lab":
        page.goto(f"{base}/lab/tree/{notebook}?token={token}&reset")
    else:
        page.goto(f"{base}/notebooks/{notebook}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    for attempt in range(3):
        picker = page.get_by_role("button", name="Select", exact=True)
        if picker.is_visible():
            picker.click()
        # the kernel must be connected and idle, or the execute requests can be lost
        wait_kernel_idle(base, token, timeout_ms / 1000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:  # a queued or finished cell shows [*] or [n] in its prompt
            page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]")).first.wait_for(timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - retry: the first run can race the kernel connection
            if attempt == 2:
                raise


CANVAS_JS = "sel => { const c = document.querySelector(sel); return c ? c.toDataURL() : null; }"
