"""OpenStack: the openstacksdk backend, openrc files, SSH keys, quotas and the sandbox cloud."""
