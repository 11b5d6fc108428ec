"""lgclip_core: synthetic images as class prototypes (LGCLIP, T2I-PAL)."""
__version__ = "0.1.0"
