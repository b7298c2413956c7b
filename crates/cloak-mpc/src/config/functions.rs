//! Which method each non-linear function uses, and its parameters.
//!
//! The defaults are Cloak's methods, chosen because they tested more accurate and cheaper
//! (see each function's documentation for its domain, error bound and rounds).
//! [`FunctionConfig::crypten`] selects CrypTen 0.4.1's methods with its defaults, so that a
//! model ported from CrypTen computes the same approximations.

/// How `exp` is approximated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpMethod {
    /// `exp(x) = q(x / 2^s)^(2^s)`: a Chebyshev polynomial `q` of `degree` fitted to `exp` on
    /// `[-1, 1]`, then `squarings` squarings; accurate for `|x| <= 2^squarings`.
    /// Rounds: `ceil(log2(degree)) + squarings`.
    Squaring {
        /// Squarings after the polynomial.
        squarings: u32,
        /// Degree of the polynomial (at most 64).
        degree: u32,
    },
    /// CrypTen's limit `(1 + x / 2^n)^(2^n)` with `n = iterations` (its `exp_iterations`,
    /// default 8): 3.5% off at `|x| = 4`, one round per iteration.
    Limit {
        /// Squarings.
        iterations: u32,
    },
}

/// How `reciprocal` (and so `div`) is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReciprocalMethod {
    /// Leading-one normalisation (the octave of `|x|`), a linear first guess per octave
    /// (`1/17` off at most), then Goldschmidt's iteration, each round squaring the error,
    /// and a last Newton step.
    Normalized {
        /// Goldschmidt rounds before the Newton step (2 reach `1.2e-5`, which the Newton
        /// step squares).
        iterations: u32,
    },
    /// CrypTen's Newton-Raphson `y = y (2 - x y)` from `3 exp(1 - 2x) + 0.003`
    /// (`reciprocal_nr_iters`, default 10).
    NewtonRaphson {
        /// Newton iterations.
        iterations: u32,
    },
    /// CrypTen's `log` method: `exp(-log(x))` with the configured `exp` and `log`.
    Log,
}

/// How `log` is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMethod {
    /// Leading-one normalisation `x = m 2^e` with `m` in `[1, 2)`, then a Chebyshev
    /// polynomial of `degree` for `log(m)` and `e ln 2` added.
    Normalized {
        /// Degree of the polynomial in `m`.
        degree: u32,
    },
    /// CrypTen's modified Householder iterations of `order`, each with an `exp` of
    /// `exp_iterations` limit squarings, from `y = x/120 - 20 exp(-2x - 1) + 3`.
    Householder {
        /// `log_iterations` (default 2).
        iterations: u32,
        /// `log_exp_iterations` (default 8).
        exp_iterations: u32,
        /// `log_order` (default 8).
        order: u32,
    },
}

/// How `sqrt` and `inv_sqrt` are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqrtMethod {
    /// Leading-one normalisation, then a Chebyshev polynomial of `degree` in the mantissa
    /// with the octave's `2^(e/2)` folded into its terms.
    Normalized {
        /// Degree of the polynomial in the mantissa.
        degree: u32,
    },
    /// CrypTen's Newton-Raphson for `1/sqrt(x)` from `2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024`
    /// (`sqrt_nr_iters`, default 3); `sqrt(x) = x inv_sqrt(x)`.
    NewtonRaphson {
        /// Newton iterations.
        iterations: u32,
    },
}

/// How `sigmoid` and `tanh` are computed (`tanh(x) = 2 sigmoid(2x) - 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigmoidMethod {
    /// A Chebyshev series of `terms` on `[-bound, bound]`, and exactly 0 or 1 outside it
    /// (selected by one batched comparison): correct on every input.
    Saturated {
        /// Degree of the series.
        terms: u32,
        /// Half-width of the fitted interval.
        bound: u32,
    },
    /// CrypTen's `reciprocal` method: `1 / (1 + exp(-|x|))` with a 9-iteration limit `exp`
    /// and 3 Newton iterations from 0.75, then selection by sign.
    Reciprocal,
}

/// How `sin` and `cos` are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrigMethod {
    /// Exact range reduction to whole turns (each party reduces its own share; no
    /// communication), then a Chebyshev series over the reduced range `[0, parties)`
    /// turns, of the least degree that is within `1e-6` there.
    Reduced,
    /// CrypTen's `exp(i x)` by the limit `(1 + i x / 2^n)^(2^n)` (`trig_iterations`,
    /// default 10).
    Limit {
        /// Squarings.
        iterations: u32,
    },
}

/// How `erf` is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErfMethod {
    /// A Chebyshev series of `terms` on `[-4, 4]`, and exactly -1 or 1 outside it.
    Saturated {
        /// Degree of the series.
        terms: u32,
    },
    /// The Taylor series to `x^(2 iterations + 1)` (CrypTen's `erf_iterations`, default 8),
    /// computed correctly (CrypTen's `pow` bug makes its own wrong for `|x| >= 1`).
    Taylor {
        /// Terms of the series after the first.
        iterations: u32,
    },
}

/// Which inputs are checked against a function's documented domain (see
/// [`Session::domain_report`](crate::Session::domain_report)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DomainChecks {
    /// Only where the method finds out for free (the normalisation-based `reciprocal`,
    /// `log`, `sqrt` and `inv_sqrt`; the saturated series have no domain to leave): no extra
    /// round or message.
    #[default]
    Free,
    /// Also `exp` (both methods), with one batched comparison of its input against
    /// `[-2^s, 2^s]` (8 more rounds). CrypTen's other methods are not checked, except
    /// through the `exp` they call, which counts under `exp`.
    All,
    /// None.
    Off,
}

/// The methods of the non-linear functions; `Default` is Cloak's, [`crypten`](Self::crypten)
/// CrypTen's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionConfig {
    /// `exp`.
    pub exp: ExpMethod,
    /// `reciprocal` and `div`.
    pub reciprocal: ReciprocalMethod,
    /// Skip the sign handling of `reciprocal` (CrypTen's `reciprocal_all_pos`): inputs
    /// must be positive.
    pub reciprocal_all_pos: bool,
    /// `log`.
    pub log: LogMethod,
    /// `sqrt` and `inv_sqrt`.
    pub sqrt: SqrtMethod,
    /// `sigmoid` and `tanh`.
    pub sigmoid_tanh: SigmoidMethod,
    /// `sin` and `cos`.
    pub trig: TrigMethod,
    /// `erf`.
    pub erf: ErfMethod,
    /// Which inputs are counted against the functions' domains.
    pub domain_checks: DomainChecks,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        Self {
            exp: ExpMethod::Squaring { squarings: 3, degree: 7 },
            reciprocal: ReciprocalMethod::Normalized { iterations: 2 },
            reciprocal_all_pos: false,
            log: LogMethod::Normalized { degree: 7 },
            sqrt: SqrtMethod::Normalized { degree: 3 },
            sigmoid_tanh: SigmoidMethod::Saturated { terms: 31, bound: 10 },
            trig: TrigMethod::Reduced,
            erf: ErfMethod::Saturated { terms: 25 },
            domain_checks: DomainChecks::Free,
        }
    }
}

impl FunctionConfig {
    /// CrypTen 0.4.1's methods and defaults (`crypten.config`'s `functions` section).
    #[must_use]
    pub fn crypten() -> Self {
        Self {
            exp: ExpMethod::Limit { iterations: 8 },
            reciprocal: ReciprocalMethod::NewtonRaphson { iterations: 10 },
            reciprocal_all_pos: false,
            log: LogMethod::Householder { iterations: 2, exp_iterations: 8, order: 8 },
            sqrt: SqrtMethod::NewtonRaphson { iterations: 3 },
            sigmoid_tanh: SigmoidMethod::Reciprocal,
            trig: TrigMethod::Limit { iterations: 10 },
            erf: ErfMethod::Taylor { iterations: 8 },
            domain_checks: DomainChecks::Free,
        }
    }
}
