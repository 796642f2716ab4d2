"""Recognising "beg bounty" template reports: editable rules that say why they matched."""
