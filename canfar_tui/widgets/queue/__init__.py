"""The Queue tab, in two parts.

* :mod:`~canfar_tui.widgets.queue.view` — :class:`QueueView`, the widget: its tables, keys,
  live updates, actions and the Submit screen;
* :mod:`~canfar_tui.widgets.queue.rows` — its rows without Textual: job id and run time cells,
  batches merged with the history, the cells of a row, the totals of a refresh.

Nothing is imported here, so that the rows can be used (and tested) without Textual.
"""
