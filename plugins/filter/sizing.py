# Copyright (c) lxstack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worker_count filter: how many worker processes a service runs in its container.

Every service role derives its worker counts (uWSGI processes, oslo.service workers) from the limits of
its container and the CPUs it sees, so the rule lives once. Documentation: worker_count.yml beside this
file.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ansible.errors import AnsibleFilterError


def _number(value, what, integer=False, minimum=0):
    """``value`` as an exact number (bool refused), at least ``minimum``."""
    if isinstance(value, bool):
        raise AnsibleFilterError("worker_count: %s must be a number, got a boolean" % what)
    if isinstance(value, float):
        value = repr(value)  # through its decimal text: 0.3 is 3/10, as written
    try:
        number = Fraction(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise AnsibleFilterError("worker_count: %s must be a number, got %r" % (what, value)) from None
    if integer and number.denominator != 1:
        raise AnsibleFilterError("worker_count: %s must be a whole number, got %r" % (what, value))
    if number < minimum:
        raise AnsibleFilterError("worker_count: %s must be at least %s, got %r" % (what, minimum, value))
    return number


def worker_count(limits, cpus_online, per_worker_mb, reserve_mb=0, minimum=1, maximum=None, share=1):
    """Workers of a service: min(CPU bound, memory bound), kept within [minimum, maximum].

    CPU bound: the container's CPU limit (``limits.cpus``, rounded up) when it has one, never above
    ``cpus_online``, else ``cpus_online``; times ``share``, rounded up. Memory bound: (``limits.memory_mb``
    - ``reserve_mb``) times ``share``, divided by ``per_worker_mb``, rounded down; none without a memory
    limit (0 or missing).
    """
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        raise AnsibleFilterError("worker_count: the limits must be a mapping with memory_mb and cpus, got %r"
                                 % (limits,))
    unknown = sorted(str(key) for key in limits if key not in ("memory_mb", "cpus"))
    if unknown:
        raise AnsibleFilterError("worker_count: unknown limits key(s) %s (known: memory_mb, cpus)" % ", ".join(unknown))
    memory_mb = _number(limits.get("memory_mb") or 0, "limits.memory_mb")
    cpus = _number(limits.get("cpus") or 0, "limits.cpus")
    online = _number(cpus_online, "cpus_online", integer=True, minimum=1)
    per_worker = _number(per_worker_mb, "per_worker_mb", minimum=1)
    reserve = _number(reserve_mb if reserve_mb is not None else 0, "reserve_mb")
    share = _number(share, "share")
    if not 0 < share <= 1:
        raise AnsibleFilterError("worker_count: share must be above 0 and at most 1, got %r" % (float(share),))
    low = _number(minimum, "minimum", integer=True, minimum=1)
    high = None if maximum is None else _number(maximum, "maximum", integer=True, minimum=1)
    if high is not None and high < low:
        raise AnsibleFilterError("worker_count: maximum (%d) is below minimum (%d)" % (int(high), int(low)))

    cpu_bound = min(math.ceil(cpus), online) if cpus > 0 else online
    count = math.ceil(cpu_bound * share)
    if memory_mb > 0:
        count = min(count, math.floor(max(memory_mb - reserve, 0) * share / per_worker))
    count = max(count, low)
    if high is not None:
        count = min(count, high)
    return int(count)


class FilterModule:
    """lxstack.openstack sizing filters."""

    def filters(self):
        return {"worker_count": worker_count}
