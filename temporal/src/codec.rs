//! Encryption of Temporal payloads (AES-256-GCM), so that amounts, names and descriptions in
//! workflow histories are unreadable to anyone without the key, including the Temporal service.
//!
//! Each payload is replaced by one whose data is `nonce || AES-GCM(serialized original payload)`
//! and whose metadata names the encoding and the key id, Temporal's convention for encryption
//! codecs. New payloads are encrypted with the current key (the first listed); any listed key
//! decrypts, so keys can be rotated by listing the new key first and keeping the old ones until
//! no history needs them. A client or worker with keys refuses payloads that were never
//! encrypted (`PayloadCodec::decode`); the codec endpoints, which the Web UI also asks about
//! the server's own plaintext payloads, pass them through unchanged.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use prost::Message;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use temporalio_common::data_converters::{
    PayloadCodec, PayloadConversionError, SerializationContextData,
};
use temporalio_common::protos::temporal::api::common::v1::Payload;

pub const ENCODING_KEY: &str = "encoding";
pub const ENCRYPTED_ENCODING: &[u8] = b"binary/encrypted";
pub const KEY_ID_KEY: &str = "encryption-key-id";
const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("codec keys must be listed as id:base64key, comma-separated")]
    Malformed,
    #[error("codec key {0:?} is not 32 bytes of base64")]
    BadKey(String),
    #[error("no codec key is configured")]
    NoKeys,
    #[error("payload was encrypted with unknown key {0:?}")]
    UnknownKey(String),
    #[error("payload cannot be decrypted (wrong key or tampered)")]
    Decrypt,
    #[error("payload cannot be encrypted")]
    Encrypt,
    #[error("decrypted payload is malformed")]
    Decode,
    #[error("payload is not encrypted")]
    Plaintext,
}

/// One key as DJINN_CODEC_KEYS writes it, `id:base64(32 bytes)`: its id and its bytes. The
/// backup key (DJINN_BACKUP_KEY) has the same form.
pub fn parse_key_entry(entry: &str) -> Result<(String, [u8; 32]), CodecError> {
    let (id, key) = entry.trim().split_once(':').ok_or(CodecError::Malformed)?;
    let bad = || CodecError::BadKey(id.to_owned());
    let bytes = STANDARD.decode(key.trim()).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
    Ok((id.to_owned(), bytes))
}

/// The keys, current first. Cheap to clone.
#[derive(Clone)]
pub struct EncryptionCodec {
    current: Arc<str>,
    keys: Arc<HashMap<String, Aes256Gcm>>,
}

impl fmt::Debug for EncryptionCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionCodec")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EncryptionCodec {
    /// Parses `id:base64key[,id:base64key...]`; the first key encrypts, all decrypt.
    pub fn from_keys(keys: &SecretString) -> Result<Self, CodecError> {
        let mut current = None;
        let mut ciphers = HashMap::new();
        for entry in keys
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, bytes) = parse_key_entry(entry)?;
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| CodecError::BadKey(id.clone()))?;
            ciphers.insert(id.clone(), cipher);
            current.get_or_insert_with(|| id.clone());
        }
        let current = current.ok_or(CodecError::NoKeys)?;
        Ok(Self {
            current: current.into(),
            keys: Arc::new(ciphers),
        })
    }

    pub fn encrypt(&self, payload: &Payload) -> Result<Payload, CodecError> {
        let cipher = self.keys.get(&*self.current).ok_or(CodecError::NoKeys)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(&nonce, payload.encode_to_vec().as_slice())
            .map_err(|_| CodecError::Encrypt)?;
        let mut data = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        let metadata = HashMap::from([
            (ENCODING_KEY.to_owned(), ENCRYPTED_ENCODING.to_vec()),
            (KEY_ID_KEY.to_owned(), self.current.as_bytes().to_vec()),
        ]);
        Ok(Payload {
            metadata,
            data,
            ..Default::default()
        })
    }

    pub fn decrypt(&self, payload: &Payload) -> Result<Payload, CodecError> {
        if payload.metadata.get(ENCODING_KEY).map(Vec::as_slice) != Some(ENCRYPTED_ENCODING) {
            return Ok(payload.clone());
        }
        let key_id = payload
            .metadata
            .get(KEY_ID_KEY)
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .unwrap_or_default();
        let cipher = self
            .keys
            .get(&key_id)
            .ok_or(CodecError::UnknownKey(key_id))?;
        if payload.data.len() < NONCE_BYTES {
            return Err(CodecError::Decrypt);
        }
        let (nonce, ciphertext) = payload.data.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CodecError::Decrypt)?;
        let plaintext = cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| CodecError::Decrypt)?;
        Payload::decode(plaintext.as_slice()).map_err(|_| CodecError::Decode)
    }

    pub fn encrypt_all(&self, payloads: &[Payload]) -> Result<Vec<Payload>, CodecError> {
        payloads.iter().map(|p| self.encrypt(p)).collect()
    }

    pub fn decrypt_all(&self, payloads: &[Payload]) -> Result<Vec<Payload>, CodecError> {
        payloads.iter().map(|p| self.decrypt(p)).collect()
    }

    /// Decrypts payloads that must have been encrypted: what a client or worker with keys
    /// receives. A plaintext payload there was written by someone without the keys (a workflow
    /// started past the API, with a client of its own), so it is refused, not passed through.
    pub fn decrypt_encrypted(&self, payloads: &[Payload]) -> Result<Vec<Payload>, CodecError> {
        payloads
            .iter()
            .map(|p| {
                if p.metadata.get(ENCODING_KEY).map(Vec::as_slice) != Some(ENCRYPTED_ENCODING) {
                    return Err(CodecError::Plaintext);
                }
                self.decrypt(p)
            })
            .collect()
    }
}

impl PayloadCodec for EncryptionCodec {
    fn encode(
        &self,
        _context: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let result = self
            .encrypt_all(&payloads)
            .map_err(|e| PayloadConversionError::EncodingError(Box::new(e)));
        Box::pin(async move { result })
    }

    fn decode(
        &self,
        _context: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let result = self
            .decrypt_encrypted(&payloads)
            .map_err(|e| PayloadConversionError::EncodingError(Box::new(e)));
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    fn codec(keys: &str) -> EncryptionCodec {
        EncryptionCodec::from_keys(&SecretString::from(keys.to_owned())).expect("valid keys")
    }

    fn payload(text: &str) -> Payload {
        Payload {
            metadata: HashMap::from([("encoding".to_owned(), b"json/plain".to_vec())]),
            data: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_and_hides_the_data() {
        let codec = codec(&format!("k1:{}", key(1)));
        let original = payload("{\"amount_minor\":1234,\"description\":\"rent\"}");
        let encrypted = codec.encrypt(&original).expect("encrypts");
        assert_eq!(
            encrypted.metadata.get(KEY_ID_KEY).map(Vec::as_slice),
            Some(&b"k1"[..])
        );
        assert!(!String::from_utf8_lossy(&encrypted.data).contains("rent"));
        assert_eq!(codec.decrypt(&encrypted).expect("decrypts"), original);
        let again = codec.encrypt(&original).expect("encrypts");
        assert_ne!(again.data, encrypted.data, "a fresh nonce each time");
    }

    #[test]
    fn rotates_keys() {
        let old = codec(&format!("k1:{}", key(1)));
        let rotated = codec(&format!("k2:{}, k1:{}", key(2), key(1)));
        let written_before = old.encrypt(&payload("before")).expect("encrypts");
        assert_eq!(
            rotated.decrypt(&written_before).expect("old key decrypts"),
            payload("before")
        );
        let written_after = rotated.encrypt(&payload("after")).expect("encrypts");
        assert_eq!(
            written_after.metadata.get(KEY_ID_KEY).map(Vec::as_slice),
            Some(&b"k2"[..])
        );
        assert!(matches!(
            old.decrypt(&written_after),
            Err(CodecError::UnknownKey(_))
        ));
    }

    #[test]
    fn refuses_tampering_and_bad_keys() {
        let codec = codec(&format!("k1:{}", key(1)));
        let mut encrypted = codec.encrypt(&payload("x")).expect("encrypts");
        if let Some(last) = encrypted.data.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            codec.decrypt(&encrypted),
            Err(CodecError::Decrypt)
        ));
        assert_eq!(
            codec.decrypt(&payload("plain")).expect("passes through"),
            payload("plain")
        );
        // What a worker or client receives must have been encrypted.
        assert!(matches!(
            codec.decrypt_encrypted(&[payload("plain")]),
            Err(CodecError::Plaintext)
        ));
        let sealed = codec.encrypt(&payload("sealed")).expect("encrypts");
        assert_eq!(
            codec.decrypt_encrypted(&[sealed]).expect("decrypts"),
            vec![payload("sealed")]
        );
        let short = format!("k1:{}", STANDARD.encode([0u8; 16]));
        for bad in ["", "k1", "k1:notbase64!", short.as_str()] {
            let parsed = EncryptionCodec::from_keys(&SecretString::from(bad.to_owned()));
            assert!(parsed.is_err(), "{bad:?}");
        }
    }
}
