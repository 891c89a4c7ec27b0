"""Reading documents: hostile files, PDF positions, OCR."""
