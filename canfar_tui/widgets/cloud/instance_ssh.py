"""The Instances tab's SSH actions: the ssh command, connect, and the seed's VM set-up.

:class:`InstanceSshActions` is the base of :class:`~canfar_tui.widgets.cloud.instances.
InstancesView` (which holds the key bindings); it keeps the tab's file short.

- ``y``: the ``ssh USER@IP`` command(s), with the profile's ``ssh_options``, to copy or run.
- ``o``: connect. The first time, offer the seed's set-up (:class:`FirstConnectionScreen`);
  then suspend the dashboard and run ``ssh`` (with a connect timeout) in this terminal; back in
  the dashboard with a one-line result, whatever happened.
- ``v``: the seed's set-up on demand (``canfar_create_user``, ``canfar_setup_scratch``, the
  software), run over ssh by :class:`VmSetupScreen` with its output live.
- In the sandbox (the profile or the cloud says so) nothing is started: the same screens show
  what would run on a real instance and say that nothing was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.app import SuspendNotSupported

from canfar_tui.clients.base import ClientError
from canfar_tui.models import Image, Instance
from canfar_tui.preferences import InstanceLogin, PreferencesError
from canfar_tui.screens.cloud_dialogs import FirstConnectionScreen, SshCommandScreen
from canfar_tui.screens.vm_setup import VmSetupOutcome, VmSetupScreen
from canfar_tui.ssh import (
    DEFAULT_CONNECT_TIMEOUT,
    PlanResult,
    SshStep,
    connect_plan,
    display_command,
    execute_plan,
    identity_for,
    ssh_command,
)
from canfar_tui.vm_setup import setup_steps
from canfar_tui.widgets.cloud.base import LONG_NOTICE_SECONDS, CloudView, login_user_for, ssh_dir

__all__ = ["InstanceSshActions"]


class InstanceSshActions(CloudView):
    """SSH to the selected instance, and the seed's set-up of a new VM."""

    def _instance(self) -> Instance | None:
        instance: Instance | None = self.selected_or_warn("an instance")
        return instance

    def _require_active(self, instance: Instance, what: str) -> bool:
        if instance.status.upper() != "ACTIVE" or instance.task_state == "deleting":
            self.notify(
                f"{instance.name} is {instance.status}: wait until it is ACTIVE to {what}.",
                severity="warning",
            )
            return False
        return True

    # ------------------------------------------------------------------ SSH

    @property
    def simulated(self) -> bool:
        """True in the sandbox: its addresses are made up, so no ssh is ever started."""
        backend = getattr(self.client, "backend_label", "")
        return self.context.settings.profile.is_sandbox or backend == "SANDBOX"

    @property
    def ssh_options(self) -> tuple[str, ...]:
        """The profile's extra ``ssh -o`` options (a port, a jump host…)."""
        return self.context.settings.profile.ssh_options

    def _ssh_ready(self, instance: Instance) -> bool:
        if not instance.floating_ip:
            self.notify(
                f"{instance.name} has no floating IP: press a to associate one first.",
                severity="warning",
            )
            return False
        return True

    def _login(self, instance: Instance) -> InstanceLogin | None:
        try:
            return self.preferences.instance_login(instance.id)
        except PreferencesError:
            return None

    def action_ssh_command(self) -> None:
        instance = self._instance()
        if instance is None or not self._ssh_ready(instance):
            return

        def show(images: Sequence[Image]) -> None:
            assert instance.floating_ip is not None
            default_user = login_user_for(instance, images)
            identity = identity_for(instance.key_name, ssh_dir())
            login = self._login(instance)
            options = self.ssh_options

            def command(user: str) -> str:
                return display_command(
                    ssh_command(
                        user, instance.floating_ip or "", identity=identity, options=options
                    )
                )

            commands: list[tuple[str, str]] = []
            if login is not None and login.user != default_user:
                commands.append(
                    (command(login.user), f"as {login.user} (made with canfar_create_user)")
                )
            commands.append(
                (command(default_user), f"default user of {instance.image_name or 'the image'}")
            )
            if instance.key_name and identity is None:
                key_note = (
                    f"Key pair {instance.key_name}: no ~/.ssh/{instance.key_name} here, so ssh "
                    "uses your default keys or agent."
                )
            elif instance.key_name:
                key_note = f"Key pair {instance.key_name}: private key ~/.ssh/{instance.key_name}."
            else:
                key_note = "This instance was launched without a key pair."
            if self.simulated:
                key_note += " Sandbox: this address is simulated; o shows what would run."
            self.app.push_screen(
                SshCommandScreen(f"SSH to {instance.name}", key_note, commands),
                lambda answer: self.action_connect() if answer == "connect" else None,
            )

        self.act(self.client.list_images, description="SSH command", then=show, changes=False)

    def _connectable(self, what: str) -> Instance | None:
        instance = self._instance()
        if (
            instance is None
            or not self._ssh_ready(instance)
            or not self._require_active(instance, what)
        ):
            return None
        return instance

    def _load_users(
        self, instance: Instance, then: Callable[[str, str], None], description: str
    ) -> None:
        """Find the image's default user and the CADC user name, then call ``then`` with them.

        The CADC user is the profile's ``username``, else the certificate's (its CN).
        """

        async def load() -> tuple[Sequence[Image], str]:
            images = await self.client.list_images()
            user = self.context.settings.profile.username or ""
            credentials = self.context.clients.credentials
            if not user and credentials is not None:
                try:
                    user = (await credentials.status()).username or ""
                except ClientError:
                    user = ""
            return images, user

        def loaded(data: tuple[Sequence[Image], str]) -> None:
            images, cadc_user = data
            then(login_user_for(instance, images), cadc_user)

        self.act(load, description=description, then=loaded, changes=False)

    def action_connect(self) -> None:
        instance = self._connectable("connect")
        if instance is None:
            return
        self._load_users(
            instance,
            lambda default_user, cadc_user: self.start_session(instance, default_user, cadc_user),
            "Connect",
        )

    def action_setup_vm(self) -> None:
        if self.context.read_only:
            return
        instance = self._connectable("set it up")
        if instance is None:
            return
        self._load_users(
            instance,
            lambda default_user, cadc_user: self.offer_setup(instance, default_user, cadc_user),
            "VM set-up",
        )

    def start_session(self, instance: Instance, default_user: str, cadc_user: str) -> None:
        """Connect as the remembered user, or offer the seed's setup on the first connection."""
        login = self._login(instance)
        if login is not None or self.context.read_only:
            self.connect_as(instance, login.user if login is not None else default_user)
            return
        self.offer_setup(instance, default_user, cadc_user)

    def _setup_steps(self, instance: Instance, default_user: str, user: str) -> list[SshStep]:
        return setup_steps(
            default_user,
            user,
            instance.floating_ip or "",
            identity=identity_for(instance.key_name, ssh_dir()),
            options=self.ssh_options,
            scratch=not instance.flavor_name.startswith("p"),
        )

    def _login_plan(self, instance: Instance, user: str) -> list[SshStep]:
        return connect_plan(
            user,
            instance.floating_ip or "",
            identity=identity_for(instance.key_name, ssh_dir()),
            options=self.ssh_options,
            connect_timeout=DEFAULT_CONNECT_TIMEOUT,
        )

    def offer_setup(self, instance: Instance, default_user: str, cadc_user: str) -> None:
        """Ask for the CADC user name, then run the seed's set-up (or skip it and log in)."""
        scratch = not instance.flavor_name.startswith("p")

        def preview(user: str) -> list[str]:
            return [
                display_command(step.argv)
                for step in self._setup_steps(instance, default_user, user)
            ]

        def answered(user: str | None) -> None:
            if user is None:
                return
            if not user:
                self._remember_login(instance, InstanceLogin(default_user))
                self.connect_as(instance, default_user)
                return
            self.run_setup(instance, default_user, user)

        self.app.push_screen(
            FirstConnectionScreen(instance.name, default_user, cadc_user, preview, scratch=scratch),
            answered,
        )

    def run_setup(self, instance: Instance, default_user: str, user: str) -> None:
        """Run the set-up over ssh with its output live (the sandbox: show what would run)."""
        host = instance.floating_ip
        if host is None:
            return
        steps = self._setup_steps(instance, default_user, user)
        simulated = self.simulated
        if simulated:
            steps += self._login_plan(instance, user)

        def finished(outcome: VmSetupOutcome | None) -> None:
            if outcome is None:
                return
            if outcome.simulated:
                self._remember_login(instance, InstanceLogin(user, setup_done=True))
                self.notify(outcome.message, title="VM set-up (sandbox)")
                return
            if not outcome.ok:
                if outcome.cancelled:
                    self.notify(
                        f"{instance.name}: {outcome.message}", title="VM set-up", severity="warning"
                    )
                else:
                    self.context.report_error(
                        ClientError(
                            f"{instance.name}: {outcome.message}", details=outcome.details or None
                        ),
                        context="VM set-up",
                    )
                return
            self._remember_login(instance, InstanceLogin(user, setup_done=True))
            self.notify(f"{instance.name}: {outcome.message} Log in as {user}.", title="VM set-up")
            if outcome.login:
                self.connect_as(instance, user)

        self.app.push_screen(
            VmSetupScreen(
                f"Set up {instance.name} ({host})" + (" · sandbox" if simulated else ""),
                steps,
                host,
                simulated=simulated,
                login_user=user,
            ),
            finished,
        )

    def connect_as(self, instance: Instance, user: str) -> None:
        """Log in as ``user``: ssh in this terminal (the sandbox: show what would run)."""
        host = instance.floating_ip
        if host is None:
            return
        steps = self._login_plan(instance, user)
        if not self.simulated:
            self.run_session(instance, steps)
            return

        def shown(outcome: VmSetupOutcome | None) -> None:
            if outcome is not None:
                self.notify(outcome.message, title="Connect (sandbox)")

        self.app.push_screen(
            VmSetupScreen(
                f"Connect to {instance.name} ({host}) · sandbox", steps, host, simulated=True
            ),
            shown,
        )

    def _remember_login(self, instance: Instance, login: InstanceLogin) -> None:
        try:
            self.preferences.set_instance_login(instance.id, login)
        except PreferencesError as error:
            self.notify(str(error), severity="warning")

    def run_session(self, instance: Instance, steps: Sequence[SshStep]) -> PlanResult | None:
        """Suspend the dashboard, run the steps in this terminal, and come back (always)."""
        try:
            with self.app.suspend():
                result = execute_plan(steps)
        except SuspendNotSupported:
            command = display_command(steps[-1].argv)
            self.app.copy_to_clipboard(command)
            self.notify(
                f"This terminal cannot be handed over to ssh; run it yourself (copied): {command}",
                severity="warning",
                timeout=LONG_NOTICE_SECONDS,
            )
            return None
        if result.failed is not None:
            self.context.report_error(
                ClientError(f"{instance.name}: {result.message}"), context="Connect"
            )
        elif result.returncode:
            self.notify(
                f"Back from {instance.name} (the remote shell ended with exit status "
                f"{result.returncode}).",
                title="Connect",
            )
        else:
            self.notify(f"Back from {instance.name}.", title="Connect")
        return result
