//! Handles for the strategies a session is configured with.
//!
//! A strategy is a trait object shared by every clone of a configuration; two handles are
//! equal when their strategies have the same name, which is how a configuration is
//! compared and printed.

/// Defines a cheap, comparable handle around `Arc<dyn $trait>`.
macro_rules! strategy_handle {
    ($(#[$doc:meta])* $handle:ident, $trait:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $handle(std::sync::Arc<dyn $trait>);

        impl $handle {
            /// A handle to `strategy`.
            pub fn new(strategy: impl $trait) -> Self {
                Self(std::sync::Arc::new(strategy))
            }

            /// The strategy's name.
            #[must_use]
            pub fn name(&self) -> &'static str {
                self.0.name()
            }
        }

        impl std::ops::Deref for $handle {
            type Target = dyn $trait;
            fn deref(&self) -> &Self::Target {
                &*self.0
            }
        }

        impl std::fmt::Debug for $handle {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0.name())
            }
        }

        impl PartialEq for $handle {
            fn eq(&self, other: &Self) -> bool {
                self.0.name() == other.0.name()
            }
        }

        impl Eq for $handle {}

        impl<T: $trait> From<T> for $handle {
            fn from(strategy: T) -> Self {
                Self::new(strategy)
            }
        }
    };
}

pub(crate) use strategy_handle;
