//! Helpers shared by the kernel-capture tests.
#![allow(dead_code)] // each test binary uses part of it

pub mod kernel;
pub mod netns;
pub mod oracle;
