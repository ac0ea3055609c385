//! Middleware models: how a desktop-grid server hands out work and what it does when a host
//! goes away. One file per middleware ([`boinc`], [`xwhep`]), each with its parameters
//! (from the scenario), its per-task and per-host state and its own events; the world's event
//! loop is generic over [`Model`] and calls it at the points where the middlewares differ,
//! with static dispatch.

pub mod boinc;
pub mod xwhep;

pub use boinc::Boinc;
pub use xwhep::Xwhep;

use crate::world::{ExecKind, Ids, Worker, World};

/// A middleware model. The functions that take the world may read and change any of its
/// state; the others see only the model's own.
pub trait Model: Sized + Clone {
    /// The server's own events (BOINC: a replica's deadline; XWHEP: a worker timed out).
    type Event: Copy + std::fmt::Debug;

    /// Its parameters, as the scenario gives them.
    type Params;

    /// The model for `tasks` tasks on `hosts` volunteers.
    fn new(params: &Self::Params, tasks: usize, hosts: usize) -> Self;

    /// The poll back-off after an empty reply: (first delay, cap), seconds.
    fn backoff_bounds(&self) -> (f64, f64);

    /// Whether a volunteer's back-off carries over its off spell instead of starting again.
    fn backoff_survives_off(&self) -> bool;

    /// Task `task` is submitted (it is put in the world's pending set afterwards).
    fn submitted(&mut self, task: u32);

    /// Volunteer `h` came on at `t` (its off event and requests are the world's).
    fn host_on(w: &mut World<'_, Self>, h: u32, t: f64);

    /// Volunteer `h` went off at `t` holding executions `held`.
    fn host_off(w: &mut World<'_, Self>, h: u32, held: Ids, t: f64);

    /// One of the model's own events.
    fn server_event(w: &mut World<'_, Self>, ev: Self::Event, t: f64);

    /// Whether worker `wk` (online) asks the server for work now.
    fn wants_work(&self, wk: &Worker) -> bool;

    /// How many tasks worker `wk` asks for, when it asks.
    fn request_size(&self, wk: &Worker) -> u32;

    /// Whether a request by volunteer `worker` now would get something from the normal queue.
    fn eligible(w: &World<'_, Self>, worker: u32) -> bool;

    /// Gives worker `worker` one task from the normal queue; returns the execution.
    /// Only tasks in `span` (`first..end`: a Cloud worker's BoT; everything for a volunteer)
    /// are given.
    fn take_normal(w: &mut World<'_, Self>, worker: u32, t: f64, span: (u32, u32)) -> Option<u32>;

    /// The copies of `task` the server believes volunteers hold, if Cloud worker `worker`
    /// may hold one too (0 if not).
    fn volunteer_copies(w: &World<'_, Self>, task: u32, worker: u32) -> u32;

    /// The results `task` (open) still needs to complete.
    fn results_needed(_w: &World<'_, Self>, _task: u32) -> u32 {
        1
    }

    /// Reschedule made a Cloud duplicate of `task` on `worker`.
    fn duplicated(&mut self, task: u32, worker: u32);

    /// An execution of kind `kind` of `task` (not complete) on `worker` finished at `t`.
    fn exec_done(w: &mut World<'_, Self>, task: u32, kind: ExecKind, on_cloud: bool, t: f64);

    /// Whether the volunteer executions of a task that just completed go on running (their
    /// results are then of no use) instead of being cancelled: `Some` when the middleware
    /// decides (BOINC's server cannot reach its hosts), `None` when SpeQuloS's
    /// `qos.losing_copies` does, as for Cloud copies.
    fn keeps_replicas(&self) -> Option<bool> {
        None
    }

    /// Volunteer `worker` contacts the server at `t` (it reports a finished task or asks for
    /// work): the server may tell it to drop some of what it holds.
    fn contact(_w: &mut World<'_, Self>, _worker: u32, _t: f64) {}

    /// Cloud worker `worker` stopped holding an execution of kind `kind` (normal queue or
    /// Reschedule duplicate) of `task`, which is not complete.
    fn cloud_stopped(w: &mut World<'_, Self>, task: u32, worker: u32, kind: ExecKind);
}
