"""The lessons as a static website (`make site`, `python -m teachkit.website`): nbconvert pages, MathML math,
explorers as their to_animation() players. See build.py."""
from .build import build_site, check_site, lessons

__all__ = ["build_site", "check_site", "lessons"]
