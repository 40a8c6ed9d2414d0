"""The methods, one file each, found through registries: adversarial training
(:mod:`gkl.methods.adversarial`) and distillation (:mod:`gkl.methods.distill`)."""
