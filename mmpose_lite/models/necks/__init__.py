"""Necks that apply attention units on top of any MMPose backbone (see issue tracker)."""
__all__ = []
