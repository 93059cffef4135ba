//! End-to-end tests of cpv-app against the emulator.
