//! Network profiles: the bandwidth and round-trip time a shaped communicator imitates.
//!
//! Every figure measured on one machine runs over loopback (or channels), where a round
//! costs microseconds and bandwidth is memory bandwidth; a protocol's cost on a real network
//! is dominated by rounds times the round-trip time and bytes over the bandwidth. A
//! [`NetProfile`] in [`CommConfig::network`](crate::CommConfig::network) makes both
//! transports deliver every message no earlier than a link of that profile would (see
//! [`crate::CommConfig::network`] for the model), so those costs show up in measured times
//! without kernel support (`netem`) or root.
//!
//! Profiles are chosen by name or as `RATE,RTT` ([`NetProfile::from_str`]), in
//! configuration or through [`NET_VAR`] (`CLOAK_NET`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::CommError;

/// The variable choosing the network profile of a party started from the environment
/// (`lan`, `wan`, `wan-mpspdz`, or `RATE,RTT` such as `1gbit,10ms`; `none`, `loopback` or
/// empty for no shaping).
pub const NET_VAR: &str = "CLOAK_NET";

/// The longest round-trip time accepted: longer is surely a typing error, and keeping
/// delays bounded keeps every release time representable.
const MAX_RTT: Duration = Duration::from_secs(3600);

/// The longest single delay the model computes: a message that would take longer (a huge
/// message on a very slow link) is held this long, which outlasts any timeout.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A network that every directed link between two parties imitates: `bandwidth` bits per
/// second in each direction (links are independent, full duplex) and a round-trip time,
/// half of which is the one-way latency of each message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetProfile {
    bits_per_second: u64,
    rtt: Duration,
}

/// Why a network profile could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetParseError {
    /// Nothing was given.
    #[error("empty network profile: expected lan, wan, wan-mpspdz or RATE,RTT (e.g. 1gbit,10ms)")]
    Empty,
    /// Neither a known name nor `RATE,RTT`.
    #[error(
        "unknown network profile `{0}`: expected lan, wan, wan-mpspdz or RATE,RTT (e.g. 1gbit,10ms)"
    )]
    Unknown(String),
    /// The rate is not a positive number followed by `bit`, `kbit`, `mbit`, `gbit` or
    /// `tbit` (optionally `/s`).
    #[error(
        "bad rate `{0}`: expected a positive number and a unit among bit, kbit, mbit, gbit, tbit (e.g. 400mbit)"
    )]
    Rate(String),
    /// The round-trip time is not a number followed by `ns`, `us`, `ms` or `s`.
    #[error(
        "bad round-trip time `{0}`: expected a number and a unit among ns, us, ms, s (e.g. 40ms)"
    )]
    Rtt(String),
    /// The round-trip time is over an hour.
    #[error("round-trip time {0:?} is over an hour")]
    RttTooLong(Duration),
}

impl NetProfile {
    /// A local-area network: 3 Gbit/s, 0.2 ms round trip.
    pub const LAN: NetProfile =
        NetProfile { bits_per_second: 3_000_000_000, rtt: Duration::from_micros(200) };
    /// A wide-area network: 400 Mbit/s, 40 ms round trip.
    pub const WAN: NetProfile =
        NetProfile { bits_per_second: 400_000_000, rtt: Duration::from_millis(40) };
    /// The wide-area setting of MP-SPDZ's benchmarks: 100 Mbit/s, 100 ms round trip.
    pub const WAN_MPSPDZ: NetProfile =
        NetProfile { bits_per_second: 100_000_000, rtt: Duration::from_millis(100) };

    /// The named profiles, by the names [`NetProfile::from_str`] accepts.
    pub const NAMED: [(&'static str, NetProfile); 3] =
        [("lan", Self::LAN), ("wan", Self::WAN), ("wan-mpspdz", Self::WAN_MPSPDZ)];

    /// A profile of `bits_per_second` (at least 1) and round-trip time `rtt` (at most an
    /// hour).
    pub fn new(bits_per_second: u64, rtt: Duration) -> Result<NetProfile, NetParseError> {
        if bits_per_second == 0 {
            return Err(NetParseError::Rate("0".into()));
        }
        if rtt > MAX_RTT {
            return Err(NetParseError::RttTooLong(rtt));
        }
        Ok(NetProfile { bits_per_second, rtt })
    }

    /// The bandwidth of each directed link, in bits per second.
    pub fn bits_per_second(&self) -> u64 {
        self.bits_per_second
    }

    /// The round-trip time.
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// The one-way latency of a message: half the round-trip time.
    pub fn one_way(&self) -> Duration {
        self.rtt / 2
    }

    /// How long `bytes` occupy a link (serialisation time), rounded up to the nanosecond.
    pub fn transmit_time(&self, bytes: u64) -> Duration {
        let bits = u128::from(bytes) * 8;
        let nanos = (bits * 1_000_000_000).div_ceil(u128::from(self.bits_per_second.max(1)));
        u64::try_from(nanos).map_or(MAX_DELAY, Duration::from_nanos).min(MAX_DELAY)
    }

    /// The first-order cost of a protocol on this network: `rounds` round trips plus
    /// `bytes` at the bandwidth (`rounds * RTT + bytes / bandwidth`), as protocols are
    /// commonly compared. A round in which both parties send at once costs one one-way
    /// latency under the shaper, not a round trip, so a shaped run of such rounds can take
    /// less than this.
    pub fn estimate(&self, rounds: u64, bytes: u64) -> Duration {
        let rounds = u32::try_from(rounds).unwrap_or(u32::MAX);
        self.rtt.saturating_mul(rounds).saturating_add(self.transmit_time(bytes))
    }

    /// Reads a choice of network: a profile as [`NetProfile::from_str`] reads it, or
    /// `None` for no shaping (`none`, `loopback`, or nothing but spaces).
    pub fn parse_choice(text: &str) -> Result<Option<NetProfile>, NetParseError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "loopback" => Ok(None),
            other => other.parse().map(Some),
        }
    }

    /// The profile that [`NET_VAR`] (`CLOAK_NET`) chooses, read through `lookup` (name to
    /// value); `None` when it is unset or chooses no shaping ([`NetProfile::parse_choice`]).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<NetProfile>, CommError> {
        let Some(value) = lookup(NET_VAR) else {
            return Ok(None);
        };
        Self::parse_choice(&value).map_err(|e| CommError::Config {
            var: format!("{NET_VAR}={value}"),
            reason: e.to_string(),
        })
    }

    /// [`NetProfile::from_lookup`] on this process's environment.
    pub fn from_env() -> Result<Option<NetProfile>, CommError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

impl FromStr for NetProfile {
    type Err = NetParseError;

    /// `lan`, `wan`, `wan-mpspdz` (see the constants), or `RATE,RTT`: a rate such as
    /// `1gbit`, `400mbit`, `2.5gbit/s` (decimal prefixes, bits, as `tc` writes them) and a
    /// round-trip time such as `10ms`, `200us`, `0.2ms`, `1s`. Case and spaces around the
    /// parts do not matter.
    fn from_str(text: &str) -> Result<NetProfile, NetParseError> {
        let text = text.trim().to_ascii_lowercase();
        if text.is_empty() {
            return Err(NetParseError::Empty);
        }
        if let Some((_, profile)) = Self::NAMED.iter().find(|(name, _)| *name == text) {
            return Ok(*profile);
        }
        let Some((rate, rtt)) = text.split_once(',') else {
            return Err(NetParseError::Unknown(text));
        };
        NetProfile::new(parse_rate(rate.trim())?, parse_rtt(rtt.trim())?)
    }
}

impl fmt::Display for NetProfile {
    /// The `RATE,RTT` form, which [`NetProfile::from_str`] reads back: `3gbit,200µs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bps = self.bits_per_second;
        let (value, unit) = [
            (1_000_000_000_000, "tbit"),
            (1_000_000_000, "gbit"),
            (1_000_000, "mbit"),
            (1000, "kbit"),
        ]
        .into_iter()
        .find(|(scale, _)| bps.is_multiple_of(*scale))
        .map_or((bps, "bit"), |(scale, unit)| (bps / scale, unit));
        write!(f, "{value}{unit},{:?}", self.rtt)
    }
}

/// Splits `text` into a finite, non-negative number and the unit after it.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let value: f64 = text[..end].parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((value, text[end..].trim()))
}

/// `400mbit` and the like, in bits per second.
fn parse_rate(text: &str) -> Result<u64, NetParseError> {
    let bad = || NetParseError::Rate(text.to_owned());
    let (value, unit) = number_and_unit(text).ok_or_else(bad)?;
    let unit = unit.strip_suffix("/s").unwrap_or(unit);
    let scale = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        _ => return Err(bad()),
    };
    let bps = (value * scale).round();
    // Below 1 bit/s, or beyond what a u64 holds (no link is that fast).
    if !(1.0..=1e18).contains(&bps) {
        return Err(bad());
    }
    Ok(bps as u64)
}

/// `40ms` and the like.
fn parse_rtt(text: &str) -> Result<Duration, NetParseError> {
    let bad = || NetParseError::Rtt(text.to_owned());
    let (value, unit) = number_and_unit(text).ok_or_else(bad)?;
    let seconds = match unit {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        _ => return Err(bad()),
    };
    let rtt = Duration::try_from_secs_f64(seconds).map_err(|_| bad())?;
    if rtt > MAX_RTT {
        return Err(NetParseError::RttTooLong(rtt));
    }
    // Whole nanoseconds, so that `10ms` is exactly 10 ms despite binary fractions.
    Ok(Duration::from_nanos((seconds * 1e9).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_profiles_are_as_documented() {
        assert_eq!("lan".parse(), Ok(NetProfile::LAN));
        assert_eq!(" WAN ".parse(), Ok(NetProfile::WAN));
        assert_eq!("wan-mpspdz".parse(), Ok(NetProfile::WAN_MPSPDZ));
        assert_eq!(NetProfile::LAN.bits_per_second(), 3_000_000_000);
        assert_eq!(NetProfile::LAN.rtt(), Duration::from_micros(200));
        assert_eq!(NetProfile::WAN.bits_per_second(), 400_000_000);
        assert_eq!(NetProfile::WAN.rtt(), Duration::from_millis(40));
        assert_eq!(NetProfile::WAN_MPSPDZ.bits_per_second(), 100_000_000);
        assert_eq!(NetProfile::WAN_MPSPDZ.one_way(), Duration::from_millis(50));
    }

    #[test]
    fn rate_and_rtt_parse_with_units() {
        let p = |s: &str| s.parse::<NetProfile>();
        assert_eq!(p("1gbit,10ms"), NetProfile::new(1_000_000_000, Duration::from_millis(10)));
        assert_eq!(
            p("2.5Gbit/s, 0.2ms"),
            NetProfile::new(2_500_000_000, Duration::from_micros(200))
        );
        assert_eq!(p("100kbit,1s"), NetProfile::new(100_000, Duration::from_secs(1)));
        assert_eq!(p("8bit,200us"), NetProfile::new(8, Duration::from_micros(200)));
        assert_eq!(p("1mbit,0ms"), NetProfile::new(1_000_000, Duration::ZERO));
        assert_eq!(p("1tbit,5ns"), NetProfile::new(1_000_000_000_000, Duration::from_nanos(5)));
    }

    #[test]
    fn bad_profiles_are_typed_errors() {
        let p = |s: &str| s.parse::<NetProfile>();
        assert_eq!(p(""), Err(NetParseError::Empty));
        assert_eq!(p("moon"), Err(NetParseError::Unknown("moon".into())));
        assert_eq!(p("1gbps,10ms"), Err(NetParseError::Rate("1gbps".into())));
        assert_eq!(p("gbit,10ms"), Err(NetParseError::Rate("gbit".into())));
        assert_eq!(p("0gbit,10ms"), Err(NetParseError::Rate("0gbit".into())));
        assert_eq!(p("-1gbit,10ms"), Err(NetParseError::Rate("-1gbit".into())));
        assert_eq!(p("1e30gbit,10ms"), Err(NetParseError::Rate("1e30gbit".into())));
        assert_eq!(p("1gbit,10"), Err(NetParseError::Rtt("10".into())));
        assert_eq!(p("1gbit,"), Err(NetParseError::Rtt("".into())));
        assert_eq!(p("1gbit,1.2.3ms"), Err(NetParseError::Rtt("1.2.3ms".into())));
        assert!(matches!(p("1gbit,2h"), Err(NetParseError::Rtt(_))));
        assert!(matches!(p("1gbit,7200s"), Err(NetParseError::RttTooLong(_))));
        assert!(NetProfile::new(0, Duration::ZERO).is_err());
        // Every error names what to write instead.
        assert!(p("moon").unwrap_err().to_string().contains("1gbit,10ms"));
    }

    #[test]
    fn display_reads_back() {
        for profile in [
            NetProfile::LAN,
            NetProfile::WAN,
            NetProfile::WAN_MPSPDZ,
            NetProfile::new(1_234_567, Duration::from_nanos(1_500_001)).expect("valid"),
        ] {
            assert_eq!(profile.to_string().parse(), Ok(profile), "{profile}");
        }
        assert_eq!(NetProfile::LAN.to_string(), "3gbit,200µs");
    }

    #[test]
    fn choice_allows_no_shaping() {
        assert_eq!(NetProfile::parse_choice(" none"), Ok(None));
        assert_eq!(NetProfile::parse_choice("Loopback"), Ok(None));
        assert_eq!(NetProfile::parse_choice(""), Ok(None));
        assert_eq!(NetProfile::parse_choice("lan"), Ok(Some(NetProfile::LAN)));
        assert!(NetProfile::parse_choice("lan,").is_err());
    }

    #[test]
    fn the_environment_variable_is_read_with_clear_errors() {
        let with = |value: Option<&str>| {
            NetProfile::from_lookup(|name| {
                assert_eq!(name, NET_VAR);
                value.map(str::to_owned)
            })
        };
        assert!(matches!(with(None), Ok(None)));
        assert!(matches!(with(Some("wan")), Ok(Some(p)) if p == NetProfile::WAN));
        match with(Some("1gbit,fast")) {
            Err(CommError::Config { var, reason }) => {
                assert_eq!(var, "CLOAK_NET=1gbit,fast");
                assert!(reason.contains("bad round-trip time `fast`"), "{reason}");
            }
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn transmit_time_and_estimate_are_exact() {
        let p = NetProfile::new(8_000_000, Duration::from_millis(10)).expect("valid");
        // 8 Mbit/s is one byte per microsecond.
        assert_eq!(p.transmit_time(1_000), Duration::from_micros(1_000));
        assert_eq!(p.transmit_time(0), Duration::ZERO);
        assert_eq!(p.estimate(3, 500_000), Duration::from_millis(30 + 500));
        // One bit at 3 bit/s rounds up.
        let slow = NetProfile::new(3, Duration::ZERO).expect("valid");
        assert_eq!(slow.transmit_time(1), Duration::from_nanos(2_666_666_667));
        // Absurd sizes saturate instead of overflowing.
        let one = NetProfile::new(1, Duration::ZERO).expect("valid");
        assert_eq!(one.transmit_time(u64::MAX), MAX_DELAY);
        assert!(NetProfile::WAN.estimate(u64::MAX, u64::MAX) >= MAX_DELAY);
    }
}
