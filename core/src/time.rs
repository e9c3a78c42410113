//! Time as the core sees it: milliseconds since its driver's epoch, always handed in.

/// Milliseconds since the driver's epoch (virtual time in the simulator, process time live).
pub type Millis = u64;
