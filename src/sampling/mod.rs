//! Sampler chain (see issue 3).
