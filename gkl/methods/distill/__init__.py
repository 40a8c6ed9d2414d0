"""Distillers, one file each, registered in :data:`DISTILLERS`."""

from gkl.methods.registry import Registry

#: name -> distiller class (``none``, ``kd``, ``dkd``, ``ikl``, ``gkl``; registration order).
DISTILLERS: Registry = Registry("distillation")
