"""One benchmark case: how to build its step for each implementation."""
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional


@dataclass
class Case:
    name: str
    group: str
    flops: float                    # floating-point operations per step (0 when not meaningful)
    items: int                      # images (or samples) per step, for throughput
    nnkit: Callable                 # nnkit(backend_name) -> zero-argument step
    torch: Optional[Callable] = None  # torch() -> zero-argument step
    gemm_bound: bool = False        # compare against the sgemm roofline
    others: Dict[str, Callable] = field(default_factory=dict)  # name -> factory of a step, None when not installed
