//! Temperature: divide logits by t; t <= 0 keeps only the most likely token.

use super::candidates::Candidates;
use super::Stage;

#[derive(Clone, Debug)]
pub struct Temperature {
    pub t: f32,
}

impl Temperature {
    pub fn new(t: f32) -> Self {
        Self { t }
    }
}

impl Stage for Temperature {
    fn name(&self) -> &'static str {
        "temperature"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if c.is_empty() {
            return;
        }
        if self.t <= 0.0 {
            let i = c.argmax().unwrap();
            c.data.swap(0, i);
            c.data.truncate(1);
            c.data[0].p = 1.0;
            c.sorted = true;
            c.selected = None;
            return;
        }
        if self.t == 1.0 {
            return;
        }
        let inv = 1.0 / self.t;
        for t in &mut c.data {
            t.logit *= inv;
        }
        // positive scaling keeps the order
        c.invalidate_probs();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        let mut c = Candidates::from_logits(&[1.0, 2.0, 4.0]);
        Temperature::new(2.0).apply(&mut c);
        let l: Vec<f32> = c.data.iter().map(|t| t.logit).collect();
        assert_eq!(l, vec![0.5, 1.0, 2.0]);
        c.ensure_probs();
        let s: f32 = c.data.iter().map(|t| t.p).sum();
        assert!((s - 1.0).abs() < 1e-6);
    }

    #[test]
    fn sharpen_and_flatten() {
        let base = [0.1f32, 0.2, 0.3, 0.4];
        let top = |t: f32| {
            let mut c = Candidates::from_probs(&base);
            Temperature::new(t).apply(&mut c);
            c.ensure_probs();
            c.data[3].p
        };
        assert!((top(1.0) - 0.4).abs() < 1e-6);
        assert!(top(0.5) > 0.4);
        assert!(top(2.0) < 0.4);
    }

    #[test]
    fn zero_and_negative_are_greedy() {
        for t in [0.0, -1.0] {
            let mut c = Candidates::from_logits(&[1.0, 5.0, f32::NEG_INFINITY, 3.0]);
            Temperature::new(t).apply(&mut c);
            assert_eq!(c.len(), 1);
            assert_eq!(c.data[0].id, 1);
        }
    }
}
