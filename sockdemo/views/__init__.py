"""Views over a trace: plots (and their draw-time labels), the live view, the stepper and
its state, the source map.

Nothing is re-exported here, so that importing the package never pays for
matplotlib or ipywidgets: import ``sockdemo.views.plots``, ``.live`` or
``.stepper`` where a picture or a widget is wanted.
"""
