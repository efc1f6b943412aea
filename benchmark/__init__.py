"""promot-bench: does fine-tuning break in-context learning, and which tuner protects it?"""

__version__ = "0.1.0"
