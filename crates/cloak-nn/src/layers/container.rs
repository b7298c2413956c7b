//! Containers: a chain of modules, a residual connection, and flattening.

use cloak_autograd::{Backend, Var};

use crate::error::Result;
use crate::module::{Module, TensorKind, join};

/// Modules applied in order; children are named `"0"`, `"1"`, ... as in PyTorch.
#[derive(Debug)]
pub struct Sequential<B: Backend> {
    layers: Vec<Box<dyn Module<B>>>,
}

impl<B: Backend> Default for Sequential<B> {
    fn default() -> Self {
        Self { layers: Vec::new() }
    }
}

impl<B: Backend> Sequential<B> {
    /// An empty chain.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a module (builder style).
    #[must_use]
    pub fn push(mut self, layer: impl Module<B> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed module.
    pub fn push_boxed(&mut self, layer: Box<dyn Module<B>>) {
        self.layers.push(layer);
    }

    /// The number of children.
    #[must_use]
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no children.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<B: Backend> Module<B> for Sequential<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit(&join(prefix, &i.to_string()), f);
        }
    }

    fn set_training(&self, training: bool) {
        for layer in &self.layers {
            layer.set_training(training);
        }
    }
}

/// `main(x) + shortcut(x)`, the shortcut being the identity when absent: a ResNet basic
/// block is `Sequential[Residual { conv-bn-relu-conv-bn, shortcut }, ReLU]`. Children are
/// named `"main"` and `"shortcut"`.
#[derive(Debug)]
pub struct Residual<B: Backend> {
    main: Box<dyn Module<B>>,
    shortcut: Option<Box<dyn Module<B>>>,
}

impl<B: Backend> Residual<B> {
    /// `main(x) + x`.
    #[must_use]
    pub fn identity(main: impl Module<B> + 'static) -> Self {
        Self { main: Box::new(main), shortcut: None }
    }

    /// `main(x) + shortcut(x)` (a projection when shapes change).
    #[must_use]
    pub fn projected(main: impl Module<B> + 'static, shortcut: impl Module<B> + 'static) -> Self {
        Self { main: Box::new(main), shortcut: Some(Box::new(shortcut)) }
    }
}

impl<B: Backend> Module<B> for Residual<B> {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        let y = self.main.forward(x)?;
        let s = match &self.shortcut {
            Some(m) => m.forward(x)?,
            None => x.clone(),
        };
        Ok(y.add(&s)?)
    }

    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {
        self.main.visit(&join(prefix, "main"), f);
        if let Some(m) = &self.shortcut {
            m.visit(&join(prefix, "shortcut"), f);
        }
    }

    fn set_training(&self, training: bool) {
        self.main.set_training(training);
        if let Some(m) = &self.shortcut {
            m.set_training(training);
        }
    }
}

/// Flattens every axis from `start` on (PyTorch's default `start = 1`).
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// The first axis flattened.
    pub start: usize,
}

impl Default for Flatten {
    fn default() -> Self {
        Self { start: 1 }
    }
}

impl<B: Backend> Module<B> for Flatten {
    fn forward(&self, x: &Var<B>) -> Result<Var<B>> {
        Ok(x.flatten_from(self.start)?)
    }

    /// No parameters or buffers.
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Var<B>, TensorKind)) {}
}
