"""Files → `Document`s (text with paragraph and page spans) → `Chunk`s with exact offsets."""
