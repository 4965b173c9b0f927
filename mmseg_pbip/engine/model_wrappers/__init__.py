from .device_agnostic_ddp import DeviceAgnosticDDP
from .utils import unwrap_model

__all__ = ['DeviceAgnosticDDP', 'unwrap_model']
