//! The live SpeQuloS service (Information, Credit System, Oracle, Scheduler) beside a real
//! desktop grid. Lands with the live-mode issue.
