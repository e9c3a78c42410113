//! The content cache's files: `<sha256>.mp4` in one directory. The core keeps the index and
//! decides hits and evictions; this module stores, serves, deletes and recovers the files.
//!
//! An entry appears only by `rename` of a complete, synced file, so a reader never sees a
//! half-written output, and a crash leaves at most a `.tmp` file that recovery deletes.

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
            let hash = name
                .strip_suffix(".mp4")
                .and_then(ContentHash::from_hex)
                .filter(|_| meta.is_file() && meta.len() > 0);
            match hash {
                Some(h) => found.push((meta.modified()?, h, meta.len())),
                None if meta.is_file() => {
                    tracing::info!(file = %name, "removing a leftover cache file");
                    std::fs::remove_file(entry.path())?;
                }
                None => {}
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

    /// Makes the finished file `src` the entry for `content`, leaving `src` in place.
    ///
    /// `src` is synced, linked (or copied, across file systems) to a temp name in the cache
    /// directory, and renamed into place.
    pub fn store(&self, content: &ContentHash, src: &Path) -> std::io::Result<u64> {
        std::fs::File::open(src)?.sync_all()?;
        let tmp = temp_path(&self.dir, ".store").with_extension("tmp");
        if std::fs::hard_link(src, &tmp).is_err() {
            std::fs::copy(src, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
        }
        let len = std::fs::metadata(&tmp)?.len();
        if let Err(e) = std::fs::rename(&tmp, self.path(content)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(len)
    }

    /// Deletes the entry (an eviction); a missing file is not an error.
    pub fn remove(&self, content: &ContentHash) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(content)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Opens the entry for reading and marks it used, so recovery after a restart keeps the
    /// LRU order.
    pub fn open_entry(&self, content: &ContentHash) -> std::io::Result<std::fs::File> {
        let f = std::fs::File::open(self.path(content))?;
        // Best effort: a read-only file system still serves.
        let _ = std::fs::File::options()
            .write(true)
            .open(self.path(content))
            .and_then(|w| w.set_modified(SystemTime::now()));
        Ok(f)
    }
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
}
