//! The sealed backup format: a logical dump encrypted as a stream of AES-256-GCM chunks (the
//! STREAM construction, `aead::stream`'s BE32 flavour), so that a dump of any size is sealed
//! and opened in bounded memory, and a chunk altered, reordered, dropped or cut off is refused.
//!
//! Layout: `MAGIC` (8 bytes) | key id length (1 byte) | key id | nonce prefix (7 random bytes) |
//! chunks, each its ciphertext's length (u32, big-endian) then the ciphertext. Every chunk
//! authenticates the whole header as associated data, so the key id and the nonce cannot be
//! swapped either; the last chunk is sealed as the last, so a file cut at a chunk boundary is
//! refused too. The key's id is in the file, the key never is.

use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Key};
use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use std::io::{Read, Write};

const MAGIC: &[u8; 8] = b"DJINNBK1";
/// Plaintext bytes per chunk.
const CHUNK: usize = 64 * 1024;
/// AES-GCM's tag.
const TAG: usize = 16;
const NONCE_PREFIX: usize = 7;

/// DJINN_BACKUP_KEY: `id:base64(32 bytes)`, the form of one DJINN_CODEC_KEYS entry.
pub struct BackupKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl BackupKey {
    pub fn parse(secret: &SecretString) -> anyhow::Result<Self> {
        let (id, key) =
            djinn_temporal::codec::parse_key_entry(secret.expose_secret()).map_err(|_| {
                anyhow::anyhow!(
                    "DJINN_BACKUP_KEY must be id:base64(32 bytes), as one DJINN_CODEC_KEYS entry"
                )
            })?;
        anyhow::ensure!(
            id.len() <= usize::from(u8::MAX),
            "DJINN_BACKUP_KEY's id is too long"
        );
        Ok(Self { id, key })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key))
    }
}

/// Reads until `buffer` is full or the input ends; the bytes read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

/// Seals all of `plain` into `sealed` under `key`; the plaintext bytes sealed.
pub fn seal(key: &BackupKey, mut plain: impl Read, mut sealed: impl Write) -> anyhow::Result<u64> {
    let mut prefix = [0u8; NONCE_PREFIX];
    OsRng.fill_bytes(&mut prefix);
    let mut header = MAGIC.to_vec();
    header.push(u8::try_from(key.id.len()).context("a short key id")?);
    header.extend_from_slice(key.id.as_bytes());
    header.extend_from_slice(&prefix);
    sealed.write_all(&header)?;
    let mut encryptor = EncryptorBE32::from_aead(key.cipher(), (&prefix).into());
    let (mut current, mut next) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut current_len = read_full(&mut plain, &mut current)?;
    let mut total = 0u64;
    let failed = |_| anyhow::anyhow!("sealing a chunk failed");
    loop {
        let next_len = read_full(&mut plain, &mut next)?;
        let payload = Payload {
            msg: &current[..current_len],
            aad: &header,
        };
        total += current_len as u64;
        if next_len == 0 {
            write_chunk(
                &mut sealed,
                &encryptor.encrypt_last(payload).map_err(failed)?,
            )?;
            return Ok(total);
        }
        write_chunk(
            &mut sealed,
            &encryptor.encrypt_next(payload).map_err(failed)?,
        )?;
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
    }
}

fn write_chunk(sealed: &mut impl Write, chunk: &[u8]) -> anyhow::Result<()> {
    sealed.write_all(&u32::try_from(chunk.len())?.to_be_bytes())?;
    sealed.write_all(chunk)?;
    Ok(())
}

/// Opens `sealed` with `key`, writing the plaintext to `plain` chunk by chunk; fails, naming why,
/// on another format, another key, or any altered, reordered or missing byte. A caller that
/// must act only on an intact file opens it once into `std::io::sink()` first.
pub fn open(key: &BackupKey, mut sealed: impl Read, mut plain: impl Write) -> anyhow::Result<u64> {
    let mut magic = [0u8; 8];
    let mut id_len = [0u8; 1];
    if read_full(&mut sealed, &mut magic)? != magic.len()
        || &magic != MAGIC
        || read_full(&mut sealed, &mut id_len)? != 1
    {
        bail!("not a Djinn backup (no DJINNBK1 header)");
    }
    let mut id = vec![0u8; usize::from(id_len[0])];
    let mut prefix = [0u8; NONCE_PREFIX];
    if read_full(&mut sealed, &mut id)? != id.len()
        || read_full(&mut sealed, &mut prefix)? != NONCE_PREFIX
    {
        bail!("the backup's header is cut short");
    }
    let id = String::from_utf8_lossy(&id).into_owned();
    if id != key.id {
        bail!(
            "the backup was sealed with key {id:?}, and DJINN_BACKUP_KEY is key {:?}",
            key.id
        );
    }
    let mut header = MAGIC.to_vec();
    header.push(id_len[0]);
    header.extend_from_slice(id.as_bytes());
    header.extend_from_slice(&prefix);
    let mut decryptor = DecryptorBE32::from_aead(key.cipher(), (&prefix).into());
    let unauthentic = || {
        anyhow::anyhow!(
            "the backup does not open under key {id:?}: the key is wrong, or the file was altered or cut short"
        )
    };
    let mut current = next_chunk(&mut sealed)?.ok_or_else(unauthentic)?;
    let mut total = 0u64;
    loop {
        let next = next_chunk(&mut sealed)?;
        let payload = Payload {
            msg: &current,
            aad: &header,
        };
        let Some(next) = next else {
            let opened = decryptor.decrypt_last(payload).map_err(|_| unauthentic())?;
            plain.write_all(&opened)?;
            return Ok(total + opened.len() as u64);
        };
        let opened = decryptor.decrypt_next(payload).map_err(|_| unauthentic())?;
        plain.write_all(&opened)?;
        total += opened.len() as u64;
        current = next;
    }
}

/// The next chunk's ciphertext, or `None` at the end of the file.
fn next_chunk(sealed: &mut impl Read) -> anyhow::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 4];
    match read_full(sealed, &mut length)? {
        0 => return Ok(None),
        4 => {}
        _ => bail!("the backup is cut short inside a chunk's length"),
    }
    let length = usize::try_from(u32::from_be_bytes(length))?;
    if !(TAG..=CHUNK + TAG).contains(&length) {
        bail!("the backup holds a chunk of impossible length {length}: it was altered");
    }
    let mut chunk = vec![0u8; length];
    if read_full(sealed, &mut chunk)? != length {
        bail!("the backup is cut short inside a chunk");
    }
    Ok(Some(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> BackupKey {
        BackupKey {
            id: id.to_owned(),
            key: [byte; 32],
        }
    }

    fn sealed(plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        seal(&key("k1", 7), plain, &mut out).expect("sealed");
        out
    }

    #[test]
    fn what_is_sealed_opens_whole_whatever_its_size() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut opened = Vec::new();
            open(&key("k1", 7), sealed(&plain).as_slice(), &mut opened).expect("opens");
            assert_eq!(opened, plain, "size {size}");
        }
    }

    #[test]
    fn any_change_another_key_or_a_cut_is_refused() {
        let plain = vec![42u8; 2 * CHUNK + 5];
        let file = sealed(&plain);
        let refused = |file: &[u8], key: &BackupKey| {
            open(key, file, std::io::sink())
                .expect_err("refused")
                .to_string()
        };
        assert!(refused(&file, &key("k2", 7)).contains("sealed with key \"k1\""));
        assert!(refused(&file, &key("k1", 8)).contains("does not open"));
        for at in [20, CHUNK / 2, file.len() - 3] {
            let mut altered = file.clone();
            altered[at] ^= 1;
            assert!(
                !refused(&altered, &key("k1", 7)).is_empty(),
                "a flipped byte at {at}"
            );
        }
        // Cut after the first chunk: every remaining byte authentic, the end missing.
        let first_chunk_end = 8 + 1 + 2 + NONCE_PREFIX + 4 + CHUNK + TAG;
        assert!(refused(&file[..first_chunk_end], &key("k1", 7)).contains("does not open"));
        assert!(refused(b"PGDMP...", &key("k1", 7)).contains("not a Djinn backup"));
    }
}
