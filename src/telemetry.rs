use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::configuration::{LogFormat, Settings};

/// Installs the global subscriber once; `RUST_LOG` wins over the configured filter.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.filter));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.log.format {
        LogFormat::Json => registry.with(fmt::layer().json().with_current_span(true)).try_init(),
        LogFormat::Text => registry.with(fmt::layer()).try_init(),
    };
}
