"""The OpenStack tabs: Projects, Instances, Floating IPs and Snapshots, one module each.

Each is a :class:`~canfar_tui.widgets.resource_view.ResourceView` over the profile's
:class:`~canfar_tui.clients.base.CloudClient`, and together they walk the first half of the
Batch Quick Start: choose a project, import an SSH key, allocate a floating IP, launch a VM,
associate the IP, log in, snapshot the VM, delete it.

Every action runs in a worker; a failure is one line (the client's message, titled by its kind,
e.g. "Quota exceeded"), and a success refreshes every OpenStack tab (hidden ones when they are
next shown). Actions that change the cloud are listed in ``DESTRUCTIVE_ACTIONS``, so read-only
mode removes them from the keys, the footer, the help and the palette; the ones that lose data
ask first.

| tab          | key       | action                                                    |
|--------------|-----------|-----------------------------------------------------------|
| Projects     | `u`       | use (switch to) the selected project                      |
| Projects     | `i`       | import a key pair from `~/.ssh/*.pub`                     |
| Projects     | `K`       | delete a key pair (confirmed)                             |
| Instances    | `n`       | launch an instance (wizard)                               |
| Instances    | `o`       | connect: SSH in this terminal, back here when it exits    |
| Instances    | `y`       | show / copy the SSH command                               |
| Instances    | `a` / `A` | associate / disassociate a floating IP                    |
| Instances    | `i`       | snapshot the instance                                     |
| Instances    | `x` / `X` | stop / start                                              |
| Instances    | `b` / `B` | reboot / hard reboot                                      |
| Instances    | `l`       | console log                                               |
| Instances    | `space`   | mark / unmark the row (`d` then deletes every marked one) |
| Instances    | `d`       | delete (confirmed)                                        |
| Floating IPs | `n`       | allocate an address                                       |
| Floating IPs | `a` / `A` | associate with an instance / disassociate                 |
| Floating IPs | `d`       | release (confirmed)                                       |
| Snapshots    | `b`       | use for batch: the default image of batch submission      |
| Snapshots    | `d`       | delete the snapshot (confirmed by typing its name)        |

The modules: :mod:`~canfar_tui.widgets.cloud.base` (:class:`CloudView`, what the tabs share),
:mod:`~canfar_tui.widgets.cloud.projects`, :mod:`~canfar_tui.widgets.cloud.instances`,
:mod:`~canfar_tui.widgets.cloud.floating_ips` and :mod:`~canfar_tui.widgets.cloud.snapshots`.
Nothing is imported here, so a tab's module is loaded only when the tab is first shown
(:func:`canfar_tui.widgets.tabs.view_class`).
"""
