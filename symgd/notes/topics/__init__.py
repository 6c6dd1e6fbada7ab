"""The catalogue's topics, one module each; :mod:`symgd.notes.catalogue` lists them."""

__all__ = []
