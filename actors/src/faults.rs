//! Fault injection for tests (the `fault-injection` feature; without it every call here
//! compiles to nothing). A test arms a point; the loop that passes it next panics, as a
//! bug would make it, so the test can watch the supervisor restart the loop.
//!
//! Points are per process (nextest runs each test in a process of its own). A node
//! started as an OS process arms points from `FOLIO_TEST_FAULTS`, e.g. `relay:always`
//! or `indexer:2`.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// Each pass of the outbox relay's loop.
    Relay,
    /// Each delivery the thumbnail runner takes from its subscription.
    ThumbnailerPump,
    /// Each batch the indexer takes.
    Indexer,
    /// Each sweep for abandoned uploads.
    Sweeper,
    /// Between the media and the project step of an account deletion.
    AccountDeletion,
    /// Halfway through writing an account export's archive.
    Export,
}

impl FaultPoint {
    pub const ALL: [FaultPoint; 6] = [
        FaultPoint::Relay,
        FaultPoint::ThumbnailerPump,
        FaultPoint::Indexer,
        FaultPoint::Sweeper,
        FaultPoint::AccountDeletion,
        FaultPoint::Export,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::Relay => "relay",
            FaultPoint::ThumbnailerPump => "thumbnailer",
            FaultPoint::Indexer => "indexer",
            FaultPoint::Sweeper => "sweeper",
            FaultPoint::AccountDeletion => "account-deletion",
            FaultPoint::Export => "export",
        }
    }
}

#[cfg(feature = "fault-injection")]
mod armed {
    use std::{
        collections::HashMap,
        sync::{LazyLock, Mutex},
    };

    use super::FaultPoint;

    /// Panics left to inject per point (`u32::MAX`: every time).
    static ARMED: LazyLock<Mutex<HashMap<FaultPoint, u32>>> = LazyLock::new(Mutex::default);

    pub fn arm(point: FaultPoint, times: u32) {
        if let Ok(mut armed) = ARMED.lock() {
            armed.insert(point, times);
        }
    }

    pub fn disarm(point: FaultPoint) {
        if let Ok(mut armed) = ARMED.lock() {
            armed.remove(&point);
        }
    }

    pub fn hit(point: FaultPoint) {
        let fire = match ARMED.lock() {
            Ok(mut armed) => match armed.get_mut(&point) {
                Some(left) if *left > 0 => {
                    if *left != u32::MAX {
                        *left -= 1;
                    }
                    true
                }
                _ => false,
            },
            Err(_) => false,
        };
        if fire {
            panic!("fault injected at {} by a test", point.name());
        }
    }

    /// Arms the points named in `FOLIO_TEST_FAULTS` (`point:count|always`, comma-separated).
    pub fn arm_from_env() {
        let Ok(spec) = std::env::var("FOLIO_TEST_FAULTS") else {
            return;
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, count) = item.split_once(':').unwrap_or((item, "1"));
            let Some(point) = FaultPoint::ALL.into_iter().find(|p| p.name() == name) else {
                tracing::warn!(point = name, "FOLIO_TEST_FAULTS names no fault point");
                continue;
            };
            let times = match count {
                "always" => u32::MAX,
                n => n.parse().unwrap_or(1),
            };
            tracing::warn!(point = name, times, "fault injection armed");
            arm(point, times);
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use armed::{arm, arm_from_env, disarm, hit};

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn hit(_point: FaultPoint) {}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn arm_from_env() {}
