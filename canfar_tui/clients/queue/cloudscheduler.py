"""What CANFAR's cloud scheduler needs in a job's ``Requirements``, and why a job lacks it.

CANFAR's cloud scheduler (cloudscheduler v2) boots a VM only for the idle jobs it considers
its own: those whose ``Requirements`` name ``group_name`` (``canfar_submit`` 0.4 writes
:data:`CANFAR_REQUIREMENTS`). Any other job is "foreign": it is ignored, no VM boots for it
and it stays idle for ever. The older ``canfar_submit`` 0.3 wrote ``Requirements = VMType =?=
"<project>:<image>"`` instead, which only a VM of that type advertising it can match.

:func:`requirements_problem` reads a job's ``Requirements`` text and says, in one line, why
the cloud scheduler will not start it (or None when it can). Pure text work: no htcondor2, so
the batch layer and the job detail screen can both use it, and
:mod:`canfar_tui.batch.canfar_submit` re-exports the constants.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

__all__ = [
    "CANFAR_GROUP",
    "CANFAR_REQUIREMENTS",
    "mentions_attribute",
    "requirements_problem",
    "vm_type_wanted",
]

#: The cloud scheduler's group for CANFAR batch: it boots VMs only for jobs that ask for it.
CANFAR_GROUP: Final = "canfar"
#: What the current ``canfar_submit`` (0.4.x) puts in every job's Requirements.
CANFAR_REQUIREMENTS: Final = f'group_name =?= "{CANFAR_GROUP}" && Arch == "x86_64"'

_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
#: ``=?=`` comes back from the schedd unparsed as ``is``.
_EQUALS: Final = r"(?:=\?=|==|\bis\b)"
_VM_TYPE: Final = re.compile(
    rf'(?<![\w.])(?:(?:TARGET|MY)\.)?VMType\s*{_EQUALS}\s*"((?:[^"\\]|\\.)*)"'
    rf'|"((?:[^"\\]|\\.)*)"\s*{_EQUALS}\s*(?:(?:TARGET|MY)\.)?VMType(?![\w.])',
    re.IGNORECASE,
)


def _without_strings(expression: str) -> str:
    """The expression with its string literals emptied (a name inside quotes is no reference)."""
    return _STRING.sub('""', expression)


def mentions_attribute(expression: str, name: str) -> bool:
    """Whether a ClassAd expression refers to the attribute ``name`` (case-insensitive).

    ``TARGET.name`` and ``MY.name`` count; a name inside a string literal or as part of a longer
    name does not.
    """
    pattern = rf"(?<![\w.])(?:(?:TARGET|MY)\.)?{re.escape(name)}(?![\w])"
    return re.search(pattern, _without_strings(expression), re.IGNORECASE) is not None


def vm_type_wanted(expression: str) -> str | None:
    """The VM type a ``VMType =?= "…"`` (canfar_submit 0.3) Requirements asks for, else None."""
    found = _VM_TYPE.search(expression)
    if found is None:
        return None
    return found.group(1) if found.group(1) is not None else found.group(2)


def requirements_problem(
    requirements: object, *, vm_types: Collection[str] | None = None
) -> str | None:
    """Why the cloud scheduler will not start a job with these ``Requirements``, or None.

    ``requirements`` is the job's ``Requirements`` as text (an expression; a job without one
    is foreign too). ``vm_types`` is the ``VMType`` of each machine in the pool when known:
    a 0.3-style job whose type none of them has is named; None means "not known".
    """
    text = requirements if isinstance(requirements, str) else ""
    if mentions_attribute(text, "group_name"):
        return None
    fix = (
        f"submit it through canfar_submit, or with Requirements = {CANFAR_REQUIREMENTS} "
        "(remove it and submit again)."
    )
    wanted = vm_type_wanted(text)
    if wanted is not None:
        if vm_types is not None and wanted not in set(vm_types):
            return (
                f'Its Requirements ask for a VM of type "{wanted}" (canfar_submit 0.3\'s form) '
                "and no such VM is in the pool; without group_name the cloud scheduler will "
                f"not boot one, so it stays idle for ever: {fix}"
            )
        if vm_types is not None:
            return None  # a VM of that type is there: HTCondor can match it
        return (
            f'Its Requirements ask for a VM of type "{wanted}" (canfar_submit 0.3\'s form) '
            "but not for group_name: unless such a VM is already running, the cloud scheduler "
            f"will not boot one and it stays idle for ever: {fix}"
        )
    return (
        "Its Requirements do not name group_name, so CANFAR's cloud scheduler ignores it "
        f"(a foreign job): no VM will boot and it stays idle for ever: {fix}"
    )
