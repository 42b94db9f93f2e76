//! Wakes a pixel's delivery worker when ingest queues work for it, so a new conversion is sent within
//! the linger time instead of the next poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Per-pixel wake-ups shared by the ingest side ([`crate::Gateway`]) and the delivery engine.
#[derive(Clone, Default)]
pub struct WorkSignal {
    pixels: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl WorkSignal {
    /// A fresh signal set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells `pixel`'s worker there is new work (remembered if it is busy right now).
    pub fn notify(&self, pixel: &str) {
        self.listener(pixel).notify_one();
    }

    /// The notifier `pixel`'s worker waits on.
    pub fn listener(&self, pixel: &str) -> Arc<Notify> {
        let Ok(mut map) = self.pixels.lock() else {
            return Arc::new(Notify::new());
        };
        map.entry(pixel.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }
}

impl std::fmt::Debug for WorkSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkSignal")
    }
}
