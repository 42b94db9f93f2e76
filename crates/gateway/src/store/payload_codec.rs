//! How a conversion's event JSON is kept in the `payloads` table: compressed with zstd against a
//! dictionary built into the binary. An event is a few hundred bytes of JSON that repeats the same
//! key names, the same user agents and URL prefixes in every row; with the dictionary a TikTok
//! event of ~560 bytes is stored in ~150 (most of it the two SHA-256 digests, which no compressor
//! shrinks below 32 bytes each). PostgreSQL's own TOAST compression starts at 2 KB, so it never
//! compressed these.
//!
//! Format of a stored value: a first byte `{` is plain JSON (every row written before this codec,
//! and what replays of those rows read); [`ZSTD_DICT_V1`] is a zstd frame against [`DICTIONARY_V1`].
//! A stored value must stay readable forever, so the dictionary of a tag is never edited: a better
//! dictionary gets a new tag, and both are read.
//!
//! Encoding runs on the caller's thread (a request's worker), never on SQLite's single writer
//! thread; decoding on the reader (delivery claims, lead views, replays).

use std::cell::RefCell;
use std::sync::LazyLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::StoreError;

/// Tag of a zstd frame compressed against [`DICTIONARY_V1`].
const ZSTD_DICT_V1: u8 = 1;
/// zstd's level: 3 is its default; higher levels gain a few bytes on these sizes at several times
/// the CPU.
const LEVEL: i32 = 3;
/// A decoded payload larger than this is refused as corrupt, so a damaged length field cannot make
/// a reader allocate without bound (the largest event the gateway builds is far smaller).
const MAX_DECODED_BYTES: usize = 4 << 20;

/// The dictionary of tag 1, trained by `zstd --train` on payloads shaped like the three
/// destinations' events (`crates/gateway/dictionary/make-samples.py` writes them; its header says
/// how the file was made). Besides common strings (key names, user agents, URL prefixes) it holds
/// entropy tables, so a frame needs no tables of its own: half the bytes and a third of the decode
/// time of a plain text dictionary. NEVER REPLACE: stored rows depend on every byte; a better
/// dictionary gets tag 2.
static DICTIONARY_V1: &[u8] = include_bytes!("../../dictionary/payload-v1.zdict");

static ENCODER_V1: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICTIONARY_V1, LEVEL));
static DECODER_V1: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICTIONARY_V1));

thread_local! {
    /// One compression context per thread, reused: creating one costs more than compressing a payload.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `json` as stored: the tag byte and a zstd frame (no checksum: SQLite and PostgreSQL pages carry
/// their own). An object larger than [`MAX_DECODED_BYTES`] is stored as plain JSON, so that every
/// value written here reads back.
pub(crate) fn encode(json: &str) -> Result<Vec<u8>, StoreError> {
    if json.len() > MAX_DECODED_BYTES {
        if json.starts_with('{') {
            return Ok(json.as_bytes().to_vec());
        }
        return Err(StoreError::Io(format!(
            "a payload of {} bytes that is not a JSON object cannot be stored",
            json.len()
        )));
    }
    let failed = |e: std::io::Error| StoreError::Io(format!("cannot compress a payload: {e}"));
    COMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            None => {
                let mut c = Compressor::with_prepared_dictionary(&ENCODER_V1).map_err(failed)?;
                c.set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(false))
                    .map_err(failed)?;
                c.set_parameter(zstd::stream::raw::CParameter::DictIdFlag(false))
                    .map_err(failed)?;
                slot.insert(c)
            }
        };
        let frame = compressor.compress(json.as_bytes()).map_err(failed)?;
        let mut stored = Vec::with_capacity(frame.len() + 1);
        stored.push(ZSTD_DICT_V1);
        stored.extend_from_slice(&frame);
        Ok(stored)
    })
}

/// The event JSON of a stored value (see the module's format), whichever way it was written.
pub(crate) fn decode(stored: &[u8]) -> Result<String, StoreError> {
    match stored.first() {
        Some(b'{') => String::from_utf8(stored.to_vec())
            .map_err(|_| StoreError::Corrupt("a stored payload is not UTF-8".into())),
        Some(&ZSTD_DICT_V1) => {
            let frame = &stored[1..];
            let size = zstd::zstd_safe::get_frame_content_size(frame)
                .ok()
                .flatten()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= MAX_DECODED_BYTES)
                .ok_or_else(|| {
                    StoreError::Corrupt("a stored payload's zstd frame has no valid size".into())
                })?;
            let json = DECOMPRESSOR.with(|slot| {
                let mut slot = slot.borrow_mut();
                let decompressor = match &mut *slot {
                    Some(d) => d,
                    None => slot.insert(
                        Decompressor::with_prepared_dictionary(&DECODER_V1)
                            .map_err(|e| StoreError::Io(format!("zstd: {e}")))?,
                    ),
                };
                decompressor
                    .decompress(frame, size)
                    .map_err(|e| StoreError::Corrupt(format!("a stored payload: {e}")))
            })?;
            String::from_utf8(json)
                .map_err(|_| StoreError::Corrupt("a stored payload is not UTF-8".into()))
        }
        Some(tag) => Err(StoreError::Corrupt(format!(
            "a stored payload has an unknown format (first byte {tag:#04x})"
        ))),
        None => Err(StoreError::Corrupt("a stored payload is empty".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIKTOK: &str = r#"{"event":"CompleteRegistration","event_time":1796701809,"event_id":"lgbfb392f8-3-0","user":{"email":"7f2b3950b573ece2aedd2d5436422c7c9315679e729d5b9d8710f3c656c71896","phone":"59daf7ae79a2af415466d2f111b19fe31ae92c2b5393a73e810c6b7925822508","ttclid":"E.C.P.lgbfb392f8-3-0","ip":"203.0.113.210","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"},"page":{"url":"https://lp.example.com/quote?utm_source=tiktok&ttclid=E.C.P.lgbfb392f8-3-0","referrer":"https://www.tiktok.com/"}}"#;

    #[test]
    fn a_payload_round_trips_and_shrinks_to_under_a_third() {
        let stored = encode(TIKTOK).unwrap();
        assert_eq!(stored[0], ZSTD_DICT_V1);
        assert!(
            stored.len() * 3 < TIKTOK.len(),
            "{} bytes stored for {}",
            stored.len(),
            TIKTOK.len()
        );
        assert_eq!(decode(&stored).unwrap(), TIKTOK);
    }

    #[test]
    fn rows_written_as_plain_json_read_as_they_are() {
        assert_eq!(decode(TIKTOK.as_bytes()).unwrap(), TIKTOK);
    }

    #[test]
    fn any_json_round_trips_including_unicode_and_large_values() {
        let big = format!(r#"{{"event":"Lead","note":"{}é✓"}}"#, "x".repeat(100_000));
        for json in ["{}", r#"{"a":"ünïcödé ✓ 🚀"}"#, big.as_str()] {
            assert_eq!(decode(&encode(json).unwrap()).unwrap(), json);
        }
    }

    #[test]
    fn a_payload_over_the_decode_bound_is_kept_plain_and_reads_back() {
        let huge = format!(r#"{{"note":"{}"}}"#, "y".repeat(MAX_DECODED_BYTES));
        let stored = encode(&huge).unwrap();
        assert_eq!(stored.first(), Some(&b'{'));
        assert_eq!(decode(&stored).unwrap(), huge);
    }

    #[test]
    fn damaged_or_unknown_values_are_corrupt_not_a_panic() {
        let mut stored = encode(TIKTOK).unwrap();
        for bad in [
            vec![],
            vec![9, 1, 2, 3],
            vec![ZSTD_DICT_V1],
            vec![ZSTD_DICT_V1, 0x28, 0xb5, 0x2f, 0xfd],
        ] {
            assert!(
                matches!(decode(&bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        let last = stored.len() - 1;
        stored.truncate(last);
        assert!(matches!(decode(&stored), Err(StoreError::Corrupt(_))));
    }
}
