"""The Batch Quick Start's pipeline, as templates for the Submit screen.

``do_catalogue.sub`` queues one job per Megacam exposure; ``do_catalogue.bash`` is the
pipeline each job runs on a VM booted from the user's snapshot (``[VOSpace]`` is the user's
VOSpace name).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DO_CATALOGUE_BASH", "DO_CATALOGUE_SUB"]

#: The seed's submit file, as the Quick Start gives it.
DO_CATALOGUE_SUB: Final = """\
executable = do_catalogue.bash

output = do_catalogue-$(arguments).out
error  = do_catalogue-$(arguments).err
log    = do_catalogue-$(arguments).log

queue arguments from (
  1056215p
  1056216p
  1056217p
  1056218p
)
"""

#: The seed's pipeline script.
DO_CATALOGUE_BASH: Final = """\
#!/bin/bash
id=$1
cadcget cadc:CFHT/${id}.fits.fz
funpack -D ${id}.fits.fz
cp /usr/share/source-extractor/default* .
echo 'NUMBER
MAG_AUTO
X_IMAGE
Y_IMAGE' > default.param
source-extractor ${id}.fits -CATALOG_NAME ${id}.cat
vcp ${id}.cat vos:[VOSpace]/
"""
