//! [`Stop`]: a one-way "please stop" flag that long-running commands (`serve`, `watch`) poll or
//! wait on. It is set by SIGINT/SIGTERM/SIGHUP, by stdin reaching EOF (`serve`), by a proxied
//! client going away, or by the daemon shutting down.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::{Context as _, Result};

/// A flag that goes from "running" to "stop" once and stays there, optionally with the error
/// that stopped it.
#[derive(Debug, Default)]
pub struct Stop {
    /// Whether the flag is set, and the error if the stop is a failure.
    set: Mutex<(bool, Option<String>)>,
    cv: Condvar,
}

impl Stop {
    /// A new flag, not set.
    pub fn new() -> Arc<Stop> {
        Arc::new(Stop::default())
    }

    /// A new flag that SIGINT, SIGTERM and SIGHUP set. The signals then no longer end the process
    /// on their own: the caller must poll or wait. Call it at most once per process.
    pub fn on_signals() -> Result<Arc<Stop>> {
        let stop = Stop::new();
        let flag = Arc::clone(&stop);
        ctrlc::set_handler(move || flag.trigger())
            .context("cannot install the SIGINT/SIGTERM handler")?;
        Ok(stop)
    }

    fn guard(&self) -> MutexGuard<'_, (bool, Option<String>)> {
        // Plain values cannot be left half-written, so a poisoned lock is safe to use.
        weft_store::sync_util::lock(&self.set)
    }

    /// Sets the flag (a normal end) and wakes every waiter.
    pub fn trigger(&self) {
        self.guard().0 = true;
        self.cv.notify_all();
    }

    /// Sets the flag with an error: whatever stops on it should fail with `msg`. A stop that is
    /// already set keeps its reason.
    pub fn fail(&self, msg: impl Into<String>) {
        let mut g = self.guard();
        if !g.0 {
            *g = (true, Some(msg.into()));
        }
        drop(g);
        self.cv.notify_all();
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.guard().0
    }

    /// The error the flag was set with, if any.
    pub fn error(&self) -> Option<String> {
        self.guard().1.clone()
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        let mut g = self.guard();
        while !g.0 {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}
