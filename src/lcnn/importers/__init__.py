"""Converters from published countermeasure weights to lcnn checkpoints."""
