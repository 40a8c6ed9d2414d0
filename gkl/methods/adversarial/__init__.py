"""Adversarial-training methods, one file each, registered in :data:`ADVERSARIAL`."""

from gkl.methods.registry import Registry

#: name -> method class (``pgd-at``, ``trades``, ``ikl``, ``gkl``; registration order).
ADVERSARIAL: Registry = Registry("adversarial-training")
