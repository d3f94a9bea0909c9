"""Software updates on the station: verify, install beside, switch, restart, check, commit.

The flow and its mapping to Mender's states are in docs/updates.md. In short:
:mod:`device.update.artifact` checks the release key's signature and every hash before
anything is written where it could run; :mod:`device.update.installer` installs the release
into its own virtualenv under ``<root>/releases/<version>``, switches the ``current`` symlink
atomically, restarts the units through a :class:`~device.update.services.ServiceManager`, and
commits only when :mod:`device.update.health` sees the new release healthy within a deadline;
otherwise it switches back. Every step is written to a journal first, so that
``dcs-station update resume`` at boot finishes or undoes whatever a power cut interrupted.
"""
