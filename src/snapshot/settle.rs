//! # Bookkeeping a stopped rollback left undone
//!
//! A rollback restores the host through its own snapshot, then marks the
//! snapshot it rolled back `rolled-back` (and, when it undid a rollback,
//! marks what that rollback had rolled back `applied` again). A rollback
//! stopped between those writes (killed, power lost) leaves the host
//! restored but the statuses saying otherwise: the next `rollback` would
//! take the apply it just undid for the latest one and report every target
//! as changed since; a half-finished apply brought back by undoing its
//! rollback would not count as unfinished.
//!
//! The statuses are derived again from what is recorded for certain: a
//! snapshot is rolled back when a rollback of it finished and is not
//! itself rolled back. Newer snapshots decide for older ones, so the
//! snapshots are settled newest first.

use super::{Manifest, Operation, SnapshotStatus, Store};
use crate::error::Result;

impl Store {
    /// Corrects, in `manifests` (oldest first, as [`Store::list`] reads
    /// them), the statuses a stopped rollback left behind; returns the
    /// indices of the manifests it changed.
    pub fn settle(&self, manifests: &mut [Manifest]) -> Vec<usize> {
        let n = manifests.len();
        // A rollback whose changes were all made (and perhaps undone
        // since by another rollback).
        let finished = |m: &Manifest| {
            matches!(m.operation, Operation::Rollback { .. })
                && (m.status == SnapshotStatus::Applied
                    || (m.status == SnapshotStatus::RolledBack && m.rolled_back_by.is_some()))
        };
        // in_force[j]: rollback j finished and was not rolled back.
        let mut in_force = vec![false; n];
        // by[i]: the rollback in force that rolled snapshot i back.
        let mut by: Vec<Option<usize>> = vec![None; n];
        for i in (0..n).rev() {
            by[i] = (i + 1..n).rev().find(|&j| {
                in_force[j]
                    && matches!(&manifests[j].operation, Operation::Rollback { of } if *of == manifests[i].id)
            });
            in_force[i] = finished(&manifests[i]) && by[i].is_none();
        }
        let mut changed = Vec::new();
        for i in 0..n {
            let fix = match by[i] {
                Some(j) => {
                    let rollback = manifests[j].id.clone();
                    (manifests[i].status != SnapshotStatus::RolledBack
                        || manifests[i].rolled_back_by.as_deref() != Some(rollback.as_str()))
                    .then_some((SnapshotStatus::RolledBack, Some(rollback)))
                }
                None => {
                    // Marked rolled back by a rollback that is itself
                    // rolled back (and still recorded): applied again, as
                    // far as its run got.
                    let undone_by = manifests[i]
                        .rolled_back_by
                        .as_deref()
                        .and_then(|by| manifests.iter().position(|m| m.id == by));
                    match undone_by {
                        Some(j) if manifests[i].status == SnapshotStatus::RolledBack && !in_force[j] => {
                            Some((self.reapplied_status(&manifests[i]), None))
                        }
                        _ => None,
                    }
                }
            };
            if let Some((status, rolled_back_by)) = fix {
                manifests[i].status = status;
                manifests[i].rolled_back_by = rolled_back_by;
                changed.push(i);
            }
        }
        changed
    }

    /// What a snapshot is once the rollback of it is undone: applied when
    /// its run made every change, pending (unfinished) otherwise.
    pub fn reapplied_status(&self, manifest: &Manifest) -> SnapshotStatus {
        let total = manifest.changes.len();
        let finished = manifest.targets.iter().all(|t| t.after.is_some())
            && self
                .progress(&manifest.id, total)
                .ok()
                .flatten()
                .is_none_or(|p| p.done == total);
        if finished {
            SnapshotStatus::Applied
        } else {
            SnapshotStatus::Pending
        }
    }

    /// [`Store::settle`] on the snapshots on disk, writing back the
    /// corrected manifests. Called by `rollback` under the lock, before it
    /// chooses what to roll back.
    pub fn settle_on_disk(&self) -> Result<()> {
        let mut manifests = self.list_as_recorded()?;
        for i in self.settle(&mut manifests) {
            self.write_manifest(&manifests[i])?;
        }
        Ok(())
    }
}
