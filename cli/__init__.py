"""Operator commands: ``python -m cli <command>`` (see ``--help``)."""
