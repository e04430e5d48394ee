//! systemd units
