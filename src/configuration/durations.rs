//! Durations in the settings file and the environment are whole numbers with their unit
//! in the key's name (`shutdown_grace_secs`, `project_cache_ttl_ms`); in the program they
//! are `Duration`s, converted here once.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

pub mod seconds {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }

    // Serialized only by the tests that list every setting.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }
}

pub mod millis {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }
}
