//! The chain: runs its stages in order; is itself a [`Stage`].

use super::candidates::{Candidates, TokenId};
use super::{SamplerState, Stage};

#[derive(Debug, Default)]
pub struct Chain {
    stages: Vec<Box<dyn Stage>>,
}

impl Chain {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, stage: impl Stage + 'static) -> &mut Self {
        self.stages.push(Box::new(stage));
        self
    }

    pub fn push_boxed(&mut self, stage: Box<dyn Stage>) -> &mut Self {
        self.stages.push(stage);
        self
    }

    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Stage names in order (for logs / the UI).
    pub fn names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }
}

impl Stage for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }

    fn apply(&mut self, c: &mut Candidates) {
        for s in &mut self.stages {
            s.apply(c);
        }
    }

    fn accept(&mut self, token: TokenId) {
        for s in &mut self.stages {
            s.accept(token);
        }
    }

    fn reset(&mut self) {
        for s in &mut self.stages {
            s.reset();
        }
    }

    fn save_state(&self, st: &mut SamplerState) {
        for s in &self.stages {
            s.save_state(st);
        }
    }

    fn load_state(&mut self, st: &SamplerState) {
        for s in &mut self.stages {
            s.load_state(st);
        }
    }
}
