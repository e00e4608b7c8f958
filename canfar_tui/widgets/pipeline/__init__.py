"""The Pipeline tab: from the Detect tab's parameters to a batch of exposures on HTCondor.

:class:`~canfar_tui.widgets.pipeline.view.PipelineView` is the widget; it is made of parts,
one module each, every part building on the one before:

* :mod:`~canfar_tui.widgets.pipeline.base` — the state the parts share, the editors' texts and
  the chosen snapshot and flavor;
* :mod:`~canfar_tui.widgets.pipeline.preview` — the lint of the files as they are typed;
* :mod:`~canfar_tui.widgets.pipeline.inputs` — the form: IDs, folder, parameters, choices,
  generating the files;
* :mod:`~canfar_tui.widgets.pipeline.outcome` — the batch watched, its outcome, the last run;
* :mod:`~canfar_tui.widgets.pipeline.submit` — submit and resubmit;
* :mod:`~canfar_tui.widgets.pipeline.view` — the layout, the keys and the tab's plumbing.

What needs no Textual is in :mod:`canfar_tui.batch` (:mod:`~canfar_tui.batch.run_state`,
:mod:`~canfar_tui.batch.pipeline_inputs`).
"""
