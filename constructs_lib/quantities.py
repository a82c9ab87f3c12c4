"""CPU and memory of a Cloud Run job, in any form Kubernetes quantities take.

Cloud Run's `resources.limits` are Kubernetes quantities: "1", "2.0" and "1000m" are
one vCPU; "512Mi", "0.5Gi" and "536870912" are the same memory, "1G" is 10^9 bytes.
Quantity grammar: kubernetes/apimachinery pkg/api/resource/quantity.go (a decimal
number, then a binary suffix Ki-Ei, a decimal suffix m, k, M-E, or an exponent e<n>).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from . import limits
from .validation import ConstructValidationError, is_unresolved

_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?")
_SCALE = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
MIB = 2**20


def parse_quantity(value: object) -> Decimal | None:
    """The amount a Kubernetes quantity stands for, or None if it is not one."""
    match = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        if suffix and suffix[0] in "eE":
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SCALE[suffix]
    except InvalidOperation:
        return None


def _mib_text(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def check_cpu_and_memory(construct: str, cpu: str, memory: str) -> None:
    """cpu one of 1, 2, 4, 6, 8 vCPU; memory whole bytes in the range that cpu allows."""
    vcpus = None
    if not is_unresolved(cpu):
        allowed = ", ".join(str(n) for n in limits.JOB_CPU_MEMORY_MIB)
        amount = parse_quantity(cpu)
        if amount is None or amount != amount.to_integral_value() or int(amount) not in limits.JOB_CPU_MEMORY_MIB:
            raise ConstructValidationError(
                construct, "cpu", cpu,
                f'{allowed} vCPU, as a Kubernetes quantity such as "2" or "2000m" (jobs take whole vCPUs)',
            )
        vcpus = int(amount)
    if is_unresolved(memory):
        return
    size = parse_quantity(memory)
    if size is None or size <= 0 or size != size.to_integral_value():
        raise ConstructValidationError(
            construct, "memory", memory, 'whole bytes as a Kubernetes quantity, such as "512Mi", "2Gi" or "1G"'
        )
    ranges = [limits.JOB_CPU_MEMORY_MIB[vcpus]] if vcpus else list(limits.JOB_CPU_MEMORY_MIB.values())
    least, most = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if not least * MIB <= size <= most * MIB:
        given = f" with cpu={cpu!r}" if vcpus else ""
        raise ConstructValidationError(construct, "memory", memory, f"from {_mib_text(least)} to {_mib_text(most)}{given}")
