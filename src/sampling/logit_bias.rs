//! Logit bias stage: adds a fixed bias to chosen tokens (`-inf` bans them).

use super::candidates::{Candidates, TokenId};
use super::Stage;

#[derive(Clone, Debug, Default)]
pub struct LogitBiasStage {
    biases: Vec<(TokenId, f32)>,
    to_search: Vec<(TokenId, f32)>,
}

impl LogitBiasStage {
    pub fn new(biases: Vec<(TokenId, f32)>) -> Self {
        Self {
            biases,
            to_search: Vec::new(),
        }
    }
}

impl Stage for LogitBiasStage {
    fn name(&self) -> &'static str {
        "logit-bias"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if self.biases.is_empty() || c.is_empty() {
            return;
        }
        self.to_search.clear();
        // Fast path: candidates still in vocabulary order (index == id).
        for &(tok, bias) in &self.biases {
            let i = tok as usize;
            if i < c.data.len() && c.data[i].id == tok {
                c.data[i].logit += bias;
            } else {
                self.to_search.push((tok, bias));
            }
        }
        if !self.to_search.is_empty() {
            for t in &mut c.data {
                for &(tok, bias) in &self.to_search {
                    if t.id == tok {
                        t.logit += bias;
                    }
                }
            }
        }
        c.logits_changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_and_ban() {
        let mut c = Candidates::from_logits(&[1.0, 2.0, 3.0]);
        let mut s = LogitBiasStage::new(vec![(0, 5.0), (2, f32::NEG_INFINITY)]);
        s.apply(&mut c);
        assert_eq!(c.data[0].logit, 6.0);
        assert_eq!(c.data[1].logit, 2.0);
        assert_eq!(c.data[2].logit, f32::NEG_INFINITY);
        c.softmax();
        assert_eq!(c.data[2].p, 0.0);
    }

    #[test]
    fn shuffled_list_is_searched() {
        let mut c = Candidates::from_logits(&[1.0, 2.0, 3.0]);
        c.sort(); // ids now 2,1,0
        let mut s = LogitBiasStage::new(vec![(0, 10.0), (7, 1.0)]);
        s.apply(&mut c);
        let t0 = c.data.iter().find(|t| t.id == 0).unwrap();
        assert_eq!(t0.logit, 11.0);
        assert!(!c.sorted);
    }

    #[test]
    fn plus_inf_forces_token() {
        let mut c = Candidates::from_logits(&[1.0, 2.0, 3.0]);
        LogitBiasStage::new(vec![(0, f32::INFINITY)]).apply(&mut c);
        c.softmax();
        assert_eq!(c.data[0].p, 1.0);
        assert_eq!(c.data[2].p, 0.0);
    }
}
