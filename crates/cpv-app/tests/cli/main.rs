//! End-to-end tests of `cpv-app` against the emulator (two partners, three customers each), run
//! in-process through `cpv_app::run`.

mod doctor;
mod errors;
mod helpers;
mod onboarding;
mod partners;
mod replication;
mod startup;
