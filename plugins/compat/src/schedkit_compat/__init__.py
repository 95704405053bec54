"""Drop-in aliases: other libraries' schedule, rule and clipper names with their arguments.

Each module is the plugin of one source library (``torch.*``, ``cerebras.*``,
``detectron2.*``, ``timm.*``, ``mmpretrain.*``, ``mmengine.*``, ``deepspeed.*``,
``hf_trainer.*``, ``megatron.*``, ``composer.*``). An alias reproduces the original's values
step for step for every param group, quirks included; each docstring says which.
"""
