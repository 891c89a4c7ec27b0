"""Chunks → the index: BM25 (`lexical`), embeddings (`dense`, `onnx_embed`), kept on disk
(`store`) or in Milvus (`milvus`) behind one `backend` interface."""
