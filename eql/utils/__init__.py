"""Utilities below everything else in eql: declared config keys and their checks."""
