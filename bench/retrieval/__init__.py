"""Ranked passages: retrieval quality (fusion, chunking, dense vectors), speed, memory, backends."""
