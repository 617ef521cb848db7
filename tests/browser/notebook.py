"""One lesson in JupyterLab, driven through the page: open it, run every cell, read what came out.

What the page is asked goes through ``window.jupyterapp`` (the server runs
with ``--LabApp.expose_app_in_browser=True``): the notebook panel, its model
(cells, execution counts, outputs as nbformat JSON), its kernel's status, and
the command registry (``notebook:run-all-cells``). Each output's DOM node is
found through the same objects (``cell.outputArea.widgets[j]``), marked with
``data-sd-cell`` / ``data-sd-output`` / ``data-sd-kind`` and then screenshotted
or checked with ordinary selectors.

Errors are read from the model, not from the DOM: an output whose
``output_type`` is ``"error"`` is exactly what the kernel reported as an
exception, however JupyterLab renders it (a stderr stream, shown as
``data-mime-type="application/vnd.jupyter.stderr"``, is not an error, and a
cell's traceback markup is the renderer's business).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

LOAD_TIMEOUT_MS = 120_000    # JupyterLab up, the notebook open, its kernel idle
RENDER_TIMEOUT_MS = 30_000   # widget views built after the last cell ran
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
NOT_ANSWERED = "not answered yet"   # sockdemo.lab.checks.NOT_ANSWERED

# A notebook panel whose document is open and whose kernel is connected and idle.
_READY = """(name) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return false;
  const panel = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === name);
  if (!panel || !panel.context.isReady || !panel.content || !panel.content.model) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel) return false;
  if (kernel.status === 'dead') return 'dead';
  return kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

_PANEL = """const panel = Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.context && w.context.path === name);"""

_RUN_ALL = """async (name) => {
  %s
  const app = window.jupyterapp;
  app.shell.activateById(panel.id);
  window.__sdRun = {done: false};
  app.commands.execute('notebook:run-all-cells').then(
    ok => { window.__sdRun = {done: true, ok: ok}; },
    err => { window.__sdRun = {done: true, ok: false, error: String(err)}; });
  return true;
}""" % _PANEL

# Done: run-all settled and the kernel idle again (or dead: reported, not waited on).
_RUN_DONE = """(name) => {
  %s
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (kernel && kernel.status === 'dead') return 'dead';
  return window.__sdRun && window.__sdRun.done && kernel && kernel.status === 'idle';
}""" % _PANEL

_LOADING = """(name) => {
  %s
  return Array.from(panel.node.querySelectorAll('[data-sd-kind="widget"]'))
    .every(n => !n.textContent.includes('Loading widget...'));
}""" % _PANEL

# Every cell, its outputs from the model, and its output nodes marked for selectors.
_COLLECT = """(name) => {
  %s
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    const model = cell.model;
    const meta = typeof model.getMetadata === 'function' ? (model.getMetadata('tags') || [])
                 : ((model.metadata && model.metadata.tags) || []);
    const item = {index: index, type: model.type, source: model.sharedModel.getSource(), tags: meta,
                  executionCount: null, outputs: []};
    if (model.type === 'code') {
      item.executionCount = model.executionCount;
      const area = cell.outputArea;
      const children = area ? area.widgets : [];
      for (let j = 0; j < model.outputs.length; j++) {
        const out = model.outputs.get(j).toJSON();
        const data = out.data || {};
        let kind = 'other';
        if ('%s' in data) kind = 'widget';
        else if ('image/png' in data || 'image/jpeg' in data || 'image/svg+xml' in data) kind = 'figure';
        const child = children.length === model.outputs.length ? children[j] : null;
        const node = child ? (child.node.querySelector(':scope > .jp-OutputArea-output') || child.node) : null;
        if (node) {
          node.setAttribute('data-sd-cell', String(index));
          node.setAttribute('data-sd-output', String(j));
          node.setAttribute('data-sd-kind', kind);
        }
        const join = value => Array.isArray(value) ? value.join('') : (value || '');
        const text = out.output_type === 'stream' ? join(out.text) : join(data['text/plain']);
        item.outputs.push({
          outputType: out.output_type, kind: kind, mimes: Object.keys(data), text: text || '',
          ename: out.ename || null, evalue: out.evalue || null,
          traceback: out.traceback || null, marked: !!node,
          rendered: kind === 'widget' && node ? !!node.querySelector('.jupyter-widgets, [class*="widget-"]') : null,
          errorViews: node ? node.querySelectorAll('.jupyter-widgets-error-widget').length : 0,
          domText: node ? node.textContent.slice(0, 300) : null,
        });
      }
    }
    cells.push(item);
  });
  return {cells: cells, run: window.__sdRun || null, pageText: panel.node.textContent,
          errorViews: panel.node.querySelectorAll('.jupyter-widgets-error-widget').length};
}""" % (_PANEL, WIDGET_MIME)

# The kernel of the notebook in front is idle: every reply to a click has arrived.
KERNEL_IDLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Output:
    output_type: str
    kind: str            # "widget", "figure" or "other"
    mimes: list
    text: str
    ename: str | None
    evalue: str | None
    traceback: list | None
    marked: bool         # its DOM node was found and marked
    rendered: bool | None
    dom_text: str | None
    error_views: int = 0  # ipywidgets' stand-in for a view that failed ("Click to show javascript error.")


@dataclass
class Cell:
    index: int           # position in the notebook, 0-based, markdown cells counted
    type: str
    source: str
    tags: list
    execution_count: int | None
    outputs: list = field(default_factory=list)

    @property
    def label(self) -> str:
        first = next((line for line in self.source.splitlines() if line.strip()), "")
        count = f" In [{self.execution_count}]" if self.execution_count else ""
        return f"cell {self.index}{count} ({first[:70]!r})"

    @property
    def may_raise(self) -> bool:
        """Tagged to raise, as JupyterLab and nbval understand it."""
        return "raises-exception" in self.tags or "# NBVAL_RAISES_EXCEPTION" in self.source

    @property
    def blank(self) -> bool:
        return not self.source.strip()   # JupyterLab never sends an empty cell to the kernel


@dataclass
class Notebook:
    cells: list
    run: dict | None
    page_text: str
    error_views: int = 0

    @property
    def code_cells(self) -> list:
        return [c for c in self.cells if c.type == "code"]

    def outputs(self, kind: str):
        for cell in self.code_cells:
            n = 0
            for j, out in enumerate(cell.outputs):
                if out.kind == kind:
                    n += 1
                    yield cell, j, n, out

    def texts(self):
        for cell in self.code_cells:
            for out in cell.outputs:
                yield out.text


def open_lesson(page, lab, name: str) -> None:
    """Load ``/lab/tree/<name>`` (``reset``: no notebook of an earlier page comes back) and
    wait until the notebook is open and its kernel idle."""
    page.goto(lab.url(f"lab/tree/{name}", "reset"), wait_until="domcontentloaded")
    try:
        handle = page.wait_for_function(_READY, arg=name, timeout=LOAD_TIMEOUT_MS, polling=250)
    except Exception as exc:
        if type(exc).__name__ != "TimeoutError":
            raise
        raise AssertionError(f"{name}: after {LOAD_TIMEOUT_MS // 1000} s JupyterLab still showed no open notebook "
                             "with a connected, idle kernel (window.jupyterapp missing, or the kernel never "
                             "started: see jupyter-server.log)") from None
    if handle.json_value() == "dead":
        raise AssertionError(f"{name}: its kernel died before a cell ran")


def run_all(page, name: str, timeout_s: float) -> None:
    """Run every cell and wait, at most ``timeout_s``, until run-all settled and the kernel is idle."""
    page.evaluate(_RUN_ALL, name)
    try:
        handle = page.wait_for_function(_RUN_DONE, arg=name, timeout=timeout_s * 1000, polling=250)
    except Exception as exc:  # playwright's TimeoutError: say what never happened
        if type(exc).__name__ != "TimeoutError":
            raise
        raise AssertionError(f"{name}: 'run all cells' had not finished after {timeout_s:.0f} s "
                             "(the kernel still busy, or a cell waiting for ever)") from None
    if handle.json_value() == "dead":
        raise AssertionError(f"{name}: the kernel died while the cells ran")


def wait_widgets_built(page, name: str) -> bool:
    """Wait, bounded, until no widget output still says 'Loading widget...'; False if some still do."""
    page.evaluate(_COLLECT, name)   # marks the output nodes the wait looks at
    try:
        page.wait_for_function(_LOADING, arg=name, timeout=RENDER_TIMEOUT_MS, polling=250)
        return True
    except Exception as exc:
        if type(exc).__name__ != "TimeoutError":
            raise
        return False


def collect(page, name: str) -> Notebook:
    raw = page.evaluate(_COLLECT, name)
    cells = []
    for c in raw["cells"]:
        outs = [Output(o["outputType"], o["kind"], o["mimes"], o["text"], o["ename"], o["evalue"],
                       o["traceback"], o["marked"], o["rendered"], o["domText"], o["errorViews"])
                for o in c["outputs"]]
        cells.append(Cell(c["index"], c["type"], c["source"], list(c["tags"] or []), c["executionCount"], outs))
    return Notebook(cells, raw["run"], raw["pageText"], raw["errorViews"])


def wait_kernel_idle(page, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_ms, polling=50).dispose()


# Height of the notebook's scrolling area (what an element must fit in to be seen whole).
_VISIBLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const scroller = w.content.node.closest('.jp-WindowedPanel-outer') || w.content.node;
  return scroller.clientHeight;
}"""
MAX_VIEWPORT_HEIGHT = 12_000


def screenshot(page, target, path: str, viewport: dict) -> None:
    """A PNG of ``target`` whole: when it is taller than the notebook's scrolling area, the
    window grows for the shot (JupyterLab lays itself out again), then gets its size back."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    visible = page.evaluate(_VISIBLE)
    grow = 0 if box is None else int(box["height"] - visible + 40)
    if grow > 0:
        height = min(viewport["height"] + grow, MAX_VIEWPORT_HEIGHT)
        page.set_viewport_size({"width": viewport["width"], "height": height})
        page.wait_for_function(f"() => ({_VISIBLE})() >= {visible + height - viewport['height'] - 1}",
                               timeout=10_000, polling=50)
        target.scroll_into_view_if_needed()
    try:
        target.screenshot(path=path, animations="disabled")
    finally:
        if grow > 0:
            page.set_viewport_size(viewport)


def output_locator(page, cell: int, output: int):
    return page.locator(f'[data-sd-cell="{cell}"][data-sd-output="{output}"]')


def problems(nb: Notebook, *, has_exercise: bool) -> list[str]:
    """Everything wrong with a lesson run in the browser, one sentence each."""
    found = []
    for cell in nb.code_cells:
        for out in cell.outputs:
            if out.output_type == "error" and not cell.may_raise:
                tb = _ANSI.sub("", "\n".join(out.traceback or []))
                tail = "\n".join(tb.splitlines()[-6:])
                found.append(f"{cell.label} raised {out.ename}: {out.evalue}\n{tail}")
    never = [c for c in nb.code_cells if c.execution_count is None and not c.blank]
    if never:
        found.append(f"{len(never)} code cell(s) never ran (run-all stops at the first error): "
                     + ", ".join(c.label for c in never[:5]) + (" ..." if len(never) > 5 else ""))
    if nb.run and nb.run.get("error"):
        found.append(f"'run all cells' failed: {nb.run['error']}")
    if "Error displaying widget" in nb.page_text:
        found.append("the page says 'Error displaying widget'")
    for cell, _j, n, out in nb.outputs("widget"):
        if not out.marked:
            found.append(f"{cell.label}: widget {n}: no output node found in the page")
        elif not out.rendered:
            found.append(f"{cell.label}: widget {n} did not render (it shows {out.dom_text!r})")
        elif out.error_views:
            found.append(f"{cell.label}: widget {n}: {out.error_views} view(s) failed to build and show "
                         "ipywidgets' error stand-in (the browser's console, console.txt, says why)")
    in_widgets = sum(out.error_views for _c, _j, _n, out in nb.outputs("widget"))
    if nb.error_views > in_widgets:
        found.append(f"{nb.error_views - in_widgets} widget view(s) elsewhere in the page failed to build "
                     "(ipywidgets' error stand-in)")
    if has_exercise and not any(NOT_ANSWERED in text for text in nb.texts()):
        found.append(f"the lesson has an exercise, but no self-check printed '{NOT_ANSWERED}' "
                     "in the learner's edition")
    return found
