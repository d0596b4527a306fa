//! Greedy pick: the most likely candidate (used when temperature <= 0).

use super::candidates::Candidates;
use super::Stage;

#[derive(Clone, Debug, Default)]
pub struct Greedy;

impl Stage for Greedy {
    fn name(&self) -> &'static str {
        "greedy"
    }

    fn apply(&mut self, c: &mut Candidates) {
        c.selected = c.argmax();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_max_first_on_ties() {
        let mut c = Candidates::from_logits(&[1.0, 3.0, 3.0, f32::NEG_INFINITY]);
        Greedy.apply(&mut c);
        assert_eq!(c.selected_token(), Some(1));
        let mut c = Candidates::from_logits(&[f32::NEG_INFINITY; 3]);
        Greedy.apply(&mut c);
        assert_eq!(c.selected_token(), Some(0));
    }
}
