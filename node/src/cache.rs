//! The content cache's files, in one directory: `<key>.mp4` for a single-file output and
//! `<key>.hls/` for an HLS ladder (one entry: stored, counted and evicted as a whole). The key
//! is the core's cache key ([`crate::profile::Profile::cache_key`]). The core keeps the index
//! and decides hits and evictions; this module stores, serves, deletes and recovers the files.
//!
//! An entry appears only by `rename` of a complete, synced file or directory, so a reader never
//! sees a half-written output, and a crash leaves at most a `.store-…` file or directory that
//! recovery deletes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use vidmesh_core::job::ContentHash;

use crate::upload::temp_path;

#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// Opens (creating) the cache directory, deletes leftovers of interrupted writes, and
    /// returns the entries found, least recently used first.
    pub fn open(dir: &Path) -> std::io::Result<(DiskCache, Vec<(ContentHash, u64)>)> {
        std::fs::create_dir_all(dir)?;
        let mut found: Vec<(SystemTime, ContentHash, u64)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let meta = entry.metadata()?;
            let file = name
                .strip_suffix(".mp4")
                .and_then(ContentHash::from_hex)
                .filter(|_| meta.is_file() && meta.len() > 0);
            // A ladder counts with all its files; its master playlist carries its use time.
            let ladder = name
                .strip_suffix(".hls")
                .and_then(ContentHash::from_hex)
                .filter(|_| meta.is_dir())
                .and_then(|h| {
                    let used = std::fs::metadata(entry.path().join(MASTER))
                        .ok()?
                        .modified();
                    Some((used.ok()?, h, dir_size(&entry.path()).ok()?))
                });
            match (file, ladder) {
                (Some(h), _) => found.push((meta.modified()?, h, meta.len())),
                (None, Some(l)) => found.push(l),
                (None, None) if meta.is_dir() => {
                    tracing::info!(dir = %name, "removing a leftover cache directory");
                    std::fs::remove_dir_all(entry.path())?;
                }
                (None, None) => {
                    tracing::info!(file = %name, "removing a leftover cache file");
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        found.sort();
        Ok((
            DiskCache {
                dir: dir.to_path_buf(),
            },
            found.into_iter().map(|(_, h, b)| (h, b)).collect(),
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, content: &ContentHash) -> PathBuf {
        self.dir.join(format!("{}.mp4", content.to_hex()))
    }

    /// Where a ladder entry lives.
    pub fn ladder_dir(&self, content: &ContentHash) -> PathBuf {
        self.dir.join(format!("{}.hls", content.to_hex()))
    }

    /// Makes the finished output `src` the entry for `content`, leaving `src` in place; a
    /// directory becomes a ladder entry. Returns the entry's size.
    ///
    /// Each file is synced, linked (or copied, across file systems) to a temp name in the
    /// cache directory, and renamed into place.
    pub fn store(&self, content: &ContentHash, src: &Path) -> std::io::Result<u64> {
        if src.is_dir() {
            return self.store_ladder(content, src);
        }
        let tmp = temp_path(&self.dir, ".store").with_extension("tmp");
        let len = link_or_copy(src, &tmp)?;
        if let Err(e) = std::fs::rename(&tmp, self.path(content)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(len)
    }

    fn store_ladder(&self, content: &ContentHash, src: &Path) -> std::io::Result<u64> {
        let target = self.ladder_dir(content);
        let tmp = temp_path(&self.dir, ".store");
        let built = (|| {
            std::fs::create_dir(&tmp)?;
            let mut total = 0;
            for e in std::fs::read_dir(src)? {
                let e = e?;
                total += link_or_copy(&e.path(), &tmp.join(e.file_name()))?;
            }
            std::fs::File::open(&tmp)?.sync_all()?;
            Ok::<u64, std::io::Error>(total)
        })();
        let result = built.and_then(|total| match std::fs::rename(&tmp, &target) {
            Ok(()) => Ok(total),
            // The same key is the same input and recipe: the ladder already there is as good,
            // and replacing it would pull files from under readers.
            Err(_) if target.join(MASTER).is_file() => dir_size(&target),
            Err(e) => Err(e),
        });
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Deletes the entry (an eviction), whichever kind it is; a missing entry is not an error.
    pub fn remove(&self, content: &ContentHash) -> std::io::Result<()> {
        let gone = |r: std::io::Result<()>| match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        gone(std::fs::remove_file(self.path(content)))?;
        gone(std::fs::remove_dir_all(self.ladder_dir(content)))
    }

    /// Opens the entry for reading and marks it used, so recovery after a restart keeps the
    /// LRU order. For a ladder this is its master playlist.
    pub fn open_entry(&self, content: &ContentHash) -> std::io::Result<std::fs::File> {
        let path = match std::fs::File::open(self.path(content)) {
            Ok(_) => self.path(content),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.ladder_dir(content).join(MASTER)
            }
            Err(e) => return Err(e),
        };
        let f = std::fs::File::open(&path)?;
        // Best effort: a read-only file system still serves.
        let _ = std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|w| w.set_modified(SystemTime::now()));
        Ok(f)
    }

    /// Opens one file of a ladder entry. `name` must be a plain file name of the ladder
    /// (`master.m3u8`, `720p.m3u8`, `720p_003.ts`): anything that could leave the directory is
    /// refused as not found.
    pub fn open_ladder_file(
        &self,
        content: &ContentHash,
        name: &str,
    ) -> std::io::Result<std::fs::File> {
        if !is_ladder_file_name(name) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a file name of a ladder",
            ));
        }
        std::fs::File::open(self.ladder_dir(content).join(name))
    }

    /// The file names of a ladder entry, sorted.
    pub fn ladder_files(&self, content: &ContentHash) -> std::io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(self.ladder_dir(content))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_ladder_file_name(n))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The master playlist's name in a ladder directory.
pub const MASTER: &str = "master.m3u8";

/// Letters, digits, `_`, `-` and inner dots, ending in `.m3u8` or `.ts`: what ffmpeg writes
/// for a ladder, and nothing with a path separator or a leading dot.
pub fn is_ladder_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && (name.ends_with(".m3u8") || name.ends_with(".ts"))
}

/// Total size of the files directly in `dir` (a ladder has no subdirectories).
pub fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let m = e?.metadata()?;
        if m.is_file() {
            total += m.len();
        }
    }
    Ok(total)
}

/// Syncs `src` and puts a copy at `dst` (a hard link when it can); returns its size.
fn link_or_copy(src: &Path, dst: &Path) -> std::io::Result<u64> {
    std::fs::File::open(src)?.sync_all()?;
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst)?;
        std::fs::File::open(dst)?.sync_all()?;
    }
    Ok(std::fs::metadata(dst)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> ContentHash {
        ContentHash([b; 32])
    }

    #[test]
    fn stores_atomically_and_recovers_in_lru_order() {
        let root = std::env::temp_dir().join(format!("vidmesh-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("cache");
        let (cache, found) = DiskCache::open(&dir).unwrap();
        assert!(found.is_empty());
        for (b, body) in [(1u8, "one"), (2, "two!")] {
            // The store may hard-link: each output is a file of its own, as ffmpeg writes them.
            let src = root.join(format!("out{b}.mp4"));
            std::fs::write(&src, body).unwrap();
            cache.store(&h(b), &src).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Using entry 1 makes entry 2 the least recently used.
        drop(cache.open_entry(&h(1)).unwrap());
        // A half-written file from a crash and a stray file are cleaned up.
        std::fs::write(dir.join(".store-1-1.tmp"), "half").unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        let (cache, found) = DiskCache::open(&dir).unwrap();
        assert_eq!(found, vec![(h(2), 4), (h(1), 3)]);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        cache.remove(&h(2)).unwrap();
        cache.remove(&h(2)).unwrap();
        assert!(cache.open_entry(&h(2)).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_ladder_is_one_entry_counted_whole_and_files_outside_it_are_refused() {
        let root =
            std::env::temp_dir().join(format!("vidmesh-cache-ladder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("cache");
        let (cache, _) = DiskCache::open(&dir).unwrap();
        let src = root.join("ladder");
        std::fs::create_dir_all(&src).unwrap();
        for (n, body) in [
            (MASTER, "#EXTM3U\n"),
            ("360p.m3u8", "x"),
            ("360p_000.ts", "seg"),
        ] {
            std::fs::write(src.join(n), body).unwrap();
        }
        assert_eq!(cache.store(&h(3), &src).unwrap(), 8 + 1 + 3);
        // Storing the same key again keeps the entry there and reports its size.
        assert_eq!(cache.store(&h(3), &src).unwrap(), 12);
        assert_eq!(
            cache.ladder_files(&h(3)).unwrap(),
            ["360p.m3u8", "360p_000.ts", MASTER]
        );
        assert!(cache.open_entry(&h(3)).is_ok());
        assert!(cache.open_ladder_file(&h(3), "360p_000.ts").is_ok());
        std::fs::write(dir.join("secret.ts"), "no").unwrap();
        for bad in [
            "../secret.ts",
            "..",
            "/etc/passwd",
            ".hidden.ts",
            "a/b.ts",
            "x.mp4",
            "",
        ] {
            assert!(cache.open_ladder_file(&h(3), bad).is_err(), "{bad}");
        }
        // A half-stored ladder from a crash goes at recovery; the complete one is found whole.
        std::fs::create_dir_all(dir.join(".store-9-9")).unwrap();
        let (cache, found) = DiskCache::open(&dir).unwrap();
        assert_eq!(found, vec![(h(3), 12)]);
        assert!(!dir.join(".store-9-9").exists());
        cache.remove(&h(3)).unwrap();
        assert!(!cache.ladder_dir(&h(3)).exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
