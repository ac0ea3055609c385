//! The SpeQuloS strategy core.
//!
//! Pure by construction: no I/O, no wall clock, no global RNG. Time and observations come in,
//! decisions go out, so the simulator and the live runtime drive exactly the same logic.
//! The strategies themselves land with the core + simulator issue.
