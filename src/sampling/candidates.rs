//! The candidate list every stage works on, plus the shared numeric helpers
//! (softmax, partial sorting, "smallest prefix reaching a mass" selection).

use std::cmp::Ordering;

/// Token id as used throughout the sampler.
pub type TokenId = u32;

/// One candidate token: id, (possibly modified) logit and probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenData {
    pub id: TokenId,
    pub logit: f32,
    pub p: f32,
}

/// `e^x` for x <= 0-ish softmax arguments: Cephes-style range reduction and
/// degree-6 polynomial (about 1-2 ulp), branch-free so it inlines into the
/// softmax loop. `x < -87.3` (including -inf) gives exactly 0.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.0, 88.0);
    // round to nearest via the 1.5 * 2^23 trick (no SSE4.1 needed)
    let n = (xc * LOG2E + 12_582_912.0) - 12_582_912.0;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let poly = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let y = poly * r2 + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let v = y * scale;
    if x < -87.0 {
        0.0
    } else {
        v
    }
}

/// Descending order by logit (NaNs never reach here: they are mapped to -inf
/// when the list is filled).
#[inline]
pub(crate) fn desc(a: &TokenData, b: &TokenData) -> Ordering {
    b.logit.total_cmp(&a.logit)
}

/// The candidate list.
///
/// * `sorted`: `data` is in descending logit order.
/// * `selected`: index (into `data`) of the picked token, set by a pick stage.
/// * probabilities are kept lazily: stages that change logits call
///   [`Candidates::invalidate_probs`]; stages that need probabilities call
///   [`Candidates::ensure_probs`]; truncation through [`Candidates::truncate`]
///   renormalises valid probabilities so they keep summing to one.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    pub data: Vec<TokenData>,
    pub sorted: bool,
    pub selected: Option<usize>,
    /// `p` is proportional to softmax(logit) over this set...
    probs_valid: bool,
    /// ...and sums to one (truncation defers renormalising until needed).
    normalized: bool,
    /// Reused scratch buffer (top-k selection), avoids per-token allocations.
    scratch: Vec<TokenData>,
}

impl Candidates {
    pub fn new() -> Self {
        Self::default()
    }

    /// Candidates for token ids `0..logits.len()`.
    pub fn from_logits(logits: &[f32]) -> Self {
        let mut c = Self::new();
        c.fill(logits);
        c
    }

    /// Test/tooling helper: logits are `ln(p)` of the given (unnormalised)
    /// probabilities, like llama.cpp's sampler tests.
    pub fn from_probs(probs: &[f32]) -> Self {
        let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        Self::from_logits(&logits)
    }

    /// Refill from a logit vector, reusing the allocation. NaN logits are
    /// treated as -inf (never sampled).
    pub fn fill(&mut self, logits: &[f32]) {
        self.data.clear();
        self.data.reserve(logits.len());
        self.data
            .extend(logits.iter().enumerate().map(|(i, &l)| TokenData {
                id: i as TokenId,
                logit: if l.is_nan() { f32::NEG_INFINITY } else { l },
                p: 0.0,
            }));
        self.sorted = false;
        self.selected = None;
        self.probs_valid = false;
        self.normalized = false;
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Whether `p` currently holds the softmax of the logits of this set
    /// (normalised). Call [`Candidates::ensure_probs`] to make it so.
    pub fn probs_valid(&self) -> bool {
        self.probs_valid && self.normalized
    }

    /// Call after changing logits.
    pub fn invalidate_probs(&mut self) {
        self.probs_valid = false;
    }

    /// Call after changing logits in a way that may break the order.
    pub fn logits_changed(&mut self) {
        self.probs_valid = false;
        self.sorted = false;
    }

    /// The id of the selected token, if a pick stage ran.
    pub fn selected_token(&self) -> Option<TokenId> {
        self.selected.and_then(|i| self.data.get(i)).map(|t| t.id)
    }

    /// Index of the largest logit (first one on ties).
    pub fn argmax(&self) -> Option<usize> {
        if self.sorted {
            return if self.data.is_empty() { None } else { Some(0) };
        }
        let mut best: Option<usize> = None;
        let mut best_l = f32::NEG_INFINITY;
        for (i, t) in self.data.iter().enumerate() {
            if best.is_none() || t.logit > best_l {
                best = Some(i);
                best_l = t.logit;
            }
        }
        best
    }

    pub fn max_logit(&self) -> f32 {
        if self.sorted {
            return self.data.first().map_or(f32::NEG_INFINITY, |t| t.logit);
        }
        self.data.iter().fold(
            f32::NEG_INFINITY,
            |m, t| if t.logit > m { t.logit } else { m },
        )
    }

    /// Softmax of the current logits into `p` (order is left as is).
    /// If every logit is -inf the distribution is uniform.
    pub fn softmax(&mut self) {
        if self.data.is_empty() {
            self.probs_valid = true;
            self.normalized = true;
            return;
        }
        let max = self.max_logit();
        if max.is_infinite() {
            // All -inf: uniform. Some +inf (e.g. a "+inf" logit bias): those
            // share the mass equally, everything else gets zero.
            let hit = |t: &TokenData| max == f32::NEG_INFINITY || t.logit == max;
            let n = self.data.iter().filter(|t| hit(t)).count();
            let u = 1.0 / n as f32;
            for t in &mut self.data {
                t.p = if hit(t) { u } else { 0.0 };
            }
            self.probs_valid = true;
            self.normalized = true;
            return;
        }
        // 4 independent partial sums keep the loop from serialising on one
        // accumulator; f32 partials over at most n/4 terms each are then
        // combined in f64.
        let mut acc = [0.0f32; 4];
        let mut chunks = self.data.chunks_exact_mut(4);
        for ch in &mut chunks {
            for (k, t) in ch.iter_mut().enumerate() {
                let e = fast_exp(t.logit - max);
                t.p = e;
                acc[k] += e;
            }
        }
        for t in chunks.into_remainder() {
            let e = fast_exp(t.logit - max);
            t.p = e;
            acc[0] += e;
        }
        let sum: f64 = acc.iter().map(|&a| a as f64).sum();
        let inv = (1.0 / sum) as f32;
        for t in &mut self.data {
            t.p *= inv;
        }
        self.probs_valid = true;
        self.normalized = true;
    }

    /// Softmax if the logits changed; renormalise if only truncated.
    pub fn ensure_probs(&mut self) {
        if !self.probs_valid {
            self.softmax();
        } else if !self.normalized {
            self.renormalize();
        }
    }

    /// Full descending sort unless already sorted (the flag makes this a
    /// one-time cost per token).
    pub fn sort(&mut self) {
        if !self.sorted {
            self.data.sort_unstable_by(desc);
            self.sorted = true;
        }
    }

    /// Keep the first `n` candidates; renormalises valid probabilities.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.data.len() {
            return;
        }
        self.data.truncate(n);
        self.selected = None;
        self.normalized = false;
    }

    /// Keep only the candidates for which `keep` is true (order preserved).
    pub fn retain(&mut self, keep: impl FnMut(&TokenData) -> bool) {
        let before = self.data.len();
        self.data.retain(keep);
        if self.data.len() != before {
            self.selected = None;
            self.normalized = false;
        }
    }

    /// `p` is proportional to the softmax (maybe not normalised).
    pub(crate) fn probs_valid_raw(&self) -> bool {
        self.probs_valid
    }

    /// After a truncation: probabilities are still proportional, not summing
    /// to one; the next [`Candidates::ensure_probs`] rescales them.
    pub(crate) fn mark_truncated(&mut self) {
        self.selected = None;
        self.normalized = false;
    }

    /// Rescale valid probabilities so they sum to one again.
    pub(crate) fn renormalize(&mut self) {
        if !self.probs_valid {
            return;
        }
        let sum: f64 = self.data.iter().map(|t| t.p as f64).sum();
        if sum > 0.0 && sum.is_finite() {
            let inv = (1.0 / sum) as f32;
            for t in &mut self.data {
                t.p *= inv;
            }
            self.normalized = true;
        } else {
            self.softmax();
        }
    }

    /// Keep the `k` candidates with the largest logits, sorted descending.
    /// Uses a thresholded buffer + `select_nth_unstable` (O(n)) instead of a
    /// full sort.
    pub fn top_k(&mut self, k: usize) {
        let n = self.data.len();
        if k == 0 || n == 0 {
            return;
        }
        if k >= n {
            self.sort();
            return;
        }
        if self.sorted {
            self.truncate(k);
            return;
        }
        if k * 8 <= n {
            // Single pass: only candidates >= the running k-th best threshold
            // enter the buffer; when it fills up it is compacted to k.
            let cap = (4 * k).max(64);
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            buf.reserve(cap);
            let mut thresh = f32::NEG_INFINITY;
            for t in &self.data {
                if t.logit >= thresh {
                    buf.push(*t);
                    if buf.len() == cap {
                        buf.select_nth_unstable_by(k - 1, desc);
                        buf.truncate(k);
                        thresh = buf[k - 1].logit;
                    }
                }
            }
            if buf.len() > k {
                buf.select_nth_unstable_by(k - 1, desc);
                buf.truncate(k);
            }
            buf.sort_unstable_by(desc);
            std::mem::swap(&mut self.data, &mut buf);
            self.scratch = buf;
        } else {
            self.data.select_nth_unstable_by(k - 1, desc);
            self.data.truncate(k);
            self.data.sort_unstable_by(desc);
        }
        self.sorted = true;
        self.mark_truncated();
    }
}

/// Given items and a descending key, find the smallest `m` such that the
/// `m` items with the largest keys have total `mass` reaching `target`
/// (`>= target`, or `> target` when `strict`). On return `v[..m]` holds exactly
/// those items (in no particular order). Returns `v.len()` if the target is
/// never reached. Expected O(n): repeated `select_nth_unstable` on halves.
pub(crate) fn mass_prefix_select<T>(
    v: &mut [T],
    key: impl Fn(&T) -> f32,
    mass: impl Fn(&T) -> f32,
    target: f64,
    strict: bool,
) -> usize {
    let reached = |c: f64| if strict { c > target } else { c >= target };
    let cmp = |a: &T, b: &T| key(b).total_cmp(&key(a));
    let mut lo = 0usize; // v[..lo] are kept, with mass `cum`
    let mut hi = v.len(); // answer m is in (lo, hi] or == len
    let mut cum = 0.0f64;
    let mut hi_reached = false;
    while hi - lo > 32 {
        let mid = lo + (hi - lo) / 2;
        v[lo..hi].select_nth_unstable_by(mid - lo, cmp);
        let left: f64 = v[lo..=mid].iter().map(|t| mass(t) as f64).sum();
        if reached(cum + left) {
            hi = mid + 1;
            hi_reached = true;
        } else {
            cum += left;
            lo = mid + 1;
        }
    }
    v[lo..hi].sort_unstable_by(cmp);
    for (i, t) in v[lo..hi].iter().enumerate() {
        cum += mass(t) as f64;
        if reached(cum) {
            return lo + i + 1;
        }
    }
    // Only reachable through rounding differences between summation orders.
    if hi_reached {
        hi
    } else {
        v.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_accuracy() {
        let mut worst = 0.0f64;
        let mut x = -90.0f32;
        while x <= 10.0 {
            let (a, b) = (fast_exp(x) as f64, (x as f64).exp());
            if b > 1e-37 {
                worst = worst.max(((a - b) / b).abs());
            }
            x += 0.001;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(fast_exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(fast_exp(-100.0), 0.0);
        assert_eq!(fast_exp(0.0), 1.0);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut c = Candidates::from_logits(&[1.0, 2.0, 3.0, f32::NEG_INFINITY, 0.5]);
        c.softmax();
        let s: f32 = c.data.iter().map(|t| t.p).sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert_eq!(c.data[3].p, 0.0);
        let e: f32 = [1.0f32, 2.0, 3.0, 0.5]
            .iter()
            .map(|x| (x - 3.0).exp())
            .sum();
        assert!((c.data[2].p - 1.0 / e).abs() < 1e-6);
    }

    #[test]
    fn mass_prefix_select_basic() {
        let mut v: Vec<(f32, f32)> = (0..1000).map(|i| (i as f32, 0.001)).collect();
        let m = mass_prefix_select(&mut v, |x| x.0, |x| x.1, 0.1005, false);
        assert_eq!(m, 101);
        let mut kept: Vec<f32> = v[..m].iter().map(|x| x.0).collect();
        kept.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(kept[0], 999.0);
        assert_eq!(kept[100], 899.0);
    }
}
