//! Small deterministic PRNG (xoshiro256**) whose state can be exported.

use serde::{Deserialize, Serialize};

/// Serializable RNG state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub s: [u64; 4],
}

/// xoshiro256** seeded through splitmix64. Output depends only on the seed and
/// the number of draws (never on threads or timing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut x = seed;
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn state(&self) -> RngState {
        RngState { s: self.s }
    }

    pub fn from_state(st: RngState) -> Self {
        // The all-zero state is a fixed point of xoshiro; never produce it.
        if st.s == [0; 4] {
            return Rng::seed_from_u64(0);
        }
        Rng { s: st.s }
    }
}

/// Resolve the user-facing seed: `-1` (or any negative) means "random".
pub fn resolve_seed(seed: i64) -> u64 {
    if seed >= 0 {
        return seed as u64;
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    // Keep it in u32 range like llama.cpp so it can be re-entered via --seed.
    h.finish() & 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_restorable() {
        let mut a = Rng::seed_from_u64(42);
        let mut b = Rng::seed_from_u64(42);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let st = a.state();
        let json = serde_json::to_string(&st).unwrap();
        let mut c = Rng::from_state(serde_json::from_str(&json).unwrap());
        for _ in 0..10 {
            assert_eq!(a.next_u64(), c.next_u64());
        }
        assert_ne!(
            Rng::seed_from_u64(1).next_u64(),
            Rng::seed_from_u64(2).next_u64()
        );
    }

    #[test]
    fn uniform_range() {
        let mut r = Rng::seed_from_u64(7);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }

    #[test]
    fn resolve_seed_fixed() {
        assert_eq!(resolve_seed(1234), 1234);
        assert!(resolve_seed(-1) <= u32::MAX as u64);
    }
}
