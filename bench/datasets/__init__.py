"""Question sets, BEIR collections and synthetic corpora the other benchmarks measure on."""
