"""How well it answers: question sets, BEIR collections, metrics and reports."""
