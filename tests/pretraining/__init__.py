"""Checked against the installed pretraining peers (the ``pretraining`` tox env)."""
