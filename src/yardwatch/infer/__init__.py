"""The batched inference core: prefetching reader, batcher, model runner, decode, seam merge."""
