from .device_agnostic_ddp import DeviceAgnosticDDP
from .utils import cpu_ddp_options, unwrap_model

__all__ = ['DeviceAgnosticDDP', 'cpu_ddp_options', 'unwrap_model']
