"""The lab's simulated Windows hosts (see :mod:`qrdr.lab.sim.host` for the host model).

Importing the package registers the Windows commands (services, computer,
WMI, ...). The Exchange and Commvault simulations register theirs in their
own modules.
"""

from . import computer, expression, net, processes, remote_admin, services, storage, tasks, wmi  # noqa: F401  (registers the commands)
from .host import Lab, WindowsHost  # noqa: F401
