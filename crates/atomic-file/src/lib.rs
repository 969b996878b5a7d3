//! Writing a file atomically: every cache, generated file, credential and ready file in Chiaro
//! is written through [`write()`], so a reader (or a crash) sees the old content or the new, never
//! a part. A crate of its own, std only, so that every writer (the registry and collateral
//! caches, the CLI, the initializer, the mesh sidecar) can reach it without weight.
//!
//! How a write goes: a new temporary file beside the target, under a name of its own
//! (random, created exclusively: `O_CREAT | O_EXCL`, so no existing name, a planted symlink
//! included, is ever opened), the content written and flushed to disk (`fsync`), the temporary
//! renamed over the target (a rename replaces the name itself, never what a symlink there points
//! to), and the directory flushed so the rename survives a crash. A temporary left by a failed
//! write is removed; one left by a crash is never read and can be swept by its only writer with
//! [`remove_temporaries`].
//!
//! Why a name per write and not per process: writers of the same target in one process
//! (threads of a cache resolving images that share a configuration) would otherwise share one
//! temporary, and one's rename would take the file from under the other.

mod mode;
mod temporary;
mod write;

pub use mode::Mode;
pub use temporary::remove_temporaries;
pub use write::write;
