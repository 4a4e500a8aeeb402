//! Durations as seconds in config files: whole seconds are written as integers, others as
//! floats; numbers and numeric strings (as environment variables give them) are read.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if d.subsec_nanos() == 0 {
        s.serialize_u64(d.as_secs())
    } else {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(Seconds)
}

struct Seconds;

impl Visitor<'_> for Seconds {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative number of seconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom("seconds must not be negative"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(v).map_err(|_| E::custom("seconds must be 0 or more"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        let secs: f64 = v
            .trim()
            .parse()
            .map_err(|_| E::custom(format!("'{v}' is not a number of seconds")))?;
        self.visit_f64(secs)
    }
}
