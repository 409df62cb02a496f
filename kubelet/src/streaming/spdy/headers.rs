//! SPDY/3 name/value header blocks: the `Headers` type, the uncompressed
//! block layout (32-bit counts and lengths, several values of one name joined
//! by NUL) and the zlib stream with the SPDY/3 dictionary that carries them.
//!
//! Each direction of a connection has one zlib stream for its whole life; every
//! block is sync-flushed, as Go's `spdy.Framer` does, so the peer can inflate a
//! block as soon as its frame arrives.

use std::sync::LazyLock;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Errors of building, compressing or parsing a header block.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("compressing a header block: {0}")]
    Compress(#[source] flate2::CompressError),
    #[error("inflating a header block: {0}")]
    Decompress(#[source] flate2::DecompressError),
    #[error("the header block ends inside a name or value")]
    Truncated,
    #[error("a header name or value is not UTF-8")]
    NotUtf8,
    #[error("the header block has {0} bytes after its last entry")]
    TrailingBytes(usize),
}

type Result<T, E = HeaderError> = std::result::Result<T, E>;

/// The header block a SYN_STREAM, SYN_REPLY or HEADERS frame carries: names
/// are lowercase (as Go writes them), in insertion order; one name may occur
/// several times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value for `name` (lowercased), keeping existing ones.
    pub fn add(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Adds a value, builder style.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.add(name, value);
        self
    }

    /// The first value of `name` (case-insensitive), as Go's `Header.Get`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// All (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The uncompressed block: a 32-bit count of names, then per name its
    /// length and bytes and the length and bytes of its values joined by NUL.
    pub fn encode_block(&self) -> Vec<u8> {
        let mut names: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, value) in &self.0 {
            match names.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value),
                None => names.push((name, vec![value])),
            }
        }
        let mut out = Vec::new();
        put_u32(&mut out, names.len());
        for (name, values) in names {
            put_u32(&mut out, name.len());
            out.extend_from_slice(name.as_bytes());
            let joined = values.join("\0");
            put_u32(&mut out, joined.len());
            out.extend_from_slice(joined.as_bytes());
        }
        out
    }

    /// Parses an uncompressed block; values joined by NUL become separate
    /// entries under the same name.
    pub fn decode_block(block: &[u8]) -> Result<Self> {
        let mut rest = block;
        let count = take_u32(&mut rest)?;
        let mut headers = Headers::new();
        for _ in 0..count {
            let name = take_str(&mut rest)?;
            let value = take_str(&mut rest)?;
            for part in value.split('\0') {
                headers.add(name, part);
            }
        }
        if !rest.is_empty() {
            return Err(HeaderError::TrailingBytes(rest.len()));
        }
        Ok(headers)
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Header names and values come from this process and are far below 4 GiB.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn take_u32(rest: &mut &[u8]) -> Result<u32> {
    let (head, tail) = rest.split_first_chunk::<4>().ok_or(HeaderError::Truncated)?;
    *rest = tail;
    Ok(u32::from_be_bytes(*head))
}

fn take_str<'a>(rest: &mut &'a [u8]) -> Result<&'a str> {
    let len = take_u32(rest)? as usize;
    if rest.len() < len {
        return Err(HeaderError::Truncated);
    }
    let (bytes, tail) = rest.split_at(len);
    *rest = tail;
    std::str::from_utf8(bytes).map_err(|_| HeaderError::NotUtf8)
}

/// The length-prefixed words at the start of the SPDY/3 dictionary (draft 3,
/// section 2.6.10.1), each preceded by its 32-bit big-endian length.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The raw tail of the SPDY/3 dictionary that follows the words.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The zlib dictionary of SPDY/3 header compression (1423 bytes).
pub static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut dict = Vec::with_capacity(1423);
    for word in DICTIONARY_WORDS {
        put_u32(&mut dict, word.len());
        dict.extend_from_slice(word.as_bytes());
    }
    dict.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    dict
});

/// The sending side's zlib stream: compresses one block at a time.
#[derive(Debug)]
pub struct HeaderCompressor {
    zlib: Compress,
    primed: bool,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    /// A fresh stream (zlib header with the dictionary's id comes first).
    pub fn new() -> Self {
        Self { zlib: Compress::new(Compression::best(), true), primed: false }
    }

    /// Compresses `headers` and sync-flushes, appending to `out`.
    pub fn compress(&mut self, headers: &Headers, out: &mut Vec<u8>) -> Result<()> {
        if !self.primed {
            self.zlib.set_dictionary(&DICTIONARY).map_err(HeaderError::Compress)?;
            self.primed = true;
        }
        let block = headers.encode_block();
        let mut input = block.as_slice();
        loop {
            out.reserve(input.len() + 64);
            let before_in = self.zlib.total_in();
            self.zlib.compress_vec(input, out, FlushCompress::Sync).map_err(HeaderError::Compress)?;
            let consumed = (self.zlib.total_in() - before_in) as usize;
            input = &input[consumed..];
            // Done once all input is in and the flush left spare room (zlib
            // fills the buffer exactly when it has more to say).
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// The receiving side's zlib stream: inflates one block per frame.
#[derive(Debug)]
pub struct HeaderDecompressor {
    zlib: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    /// A fresh stream expecting a zlib header that names the dictionary.
    pub fn new() -> Self {
        Self { zlib: Decompress::new(true) }
    }

    /// Inflates one frame's compressed block and parses it.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<Headers> {
        let mut input = compressed;
        let mut block = Vec::with_capacity(compressed.len() * 4 + 64);
        loop {
            if block.len() == block.capacity() {
                block.reserve(block.capacity().max(256));
            }
            let before_in = self.zlib.total_in();
            let before_out = self.zlib.total_out();
            let result = self.zlib.decompress_vec(input, &mut block, FlushDecompress::Sync);
            let consumed = (self.zlib.total_in() - before_in) as usize;
            input = &input[consumed..];
            match result {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    let produced = self.zlib.total_out() - before_out;
                    if input.is_empty() && block.len() < block.capacity() {
                        break;
                    }
                    if consumed == 0 && produced == 0 && block.len() < block.capacity() {
                        return Err(HeaderError::Truncated);
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib.set_dictionary(&DICTIONARY).map_err(HeaderError::Decompress)?;
                }
                Err(e) => return Err(HeaderError::Decompress(e)),
            }
        }
        Headers::decode_block(&block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_1423_bytes_of_the_spdy3_draft() {
        assert_eq!(DICTIONARY.len(), 1423);
        // The zlib header of every SPDY/3 header stream names this Adler-32.
        let (mut a, mut b) = (1u32, 0u32);
        for byte in DICTIONARY.iter() {
            a = (a + u32::from(*byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }

    #[test]
    fn a_block_encodes_counts_and_lengths_as_32_bit_big_endian() {
        let headers = Headers::new().with("streamType", "error").with("port", "80");
        let mut expected = vec![0, 0, 0, 2];
        expected.extend_from_slice(b"\0\0\0\x0astreamtype\0\0\0\x05error");
        expected.extend_from_slice(b"\0\0\0\x04port\0\0\0\x0280");
        assert_eq!(headers.encode_block(), expected);
        assert_eq!(Headers::decode_block(&expected).ok(), Some(headers));
    }

    #[test]
    fn several_values_of_one_name_are_joined_by_nul() {
        let headers = Headers::new().with("a", "1").with("b", "x").with("a", "2");
        let block = headers.encode_block();
        let mut expected = vec![0, 0, 0, 2];
        expected.extend_from_slice(b"\0\0\0\x01a\0\0\0\x031\x002\0\0\0\x01b\0\0\0\x01x");
        assert_eq!(block, expected);
        let decoded = Headers::decode_block(&block).ok();
        let pairs: Option<Vec<(String, String)>> =
            decoded.map(|h| h.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect());
        assert_eq!(pairs, Some(vec![("a".into(), "1".into()), ("a".into(), "2".into()), ("b".into(), "x".into())]));
    }

    #[test]
    fn a_truncated_block_is_an_error() {
        assert!(matches!(Headers::decode_block(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']), Err(HeaderError::Truncated)));
    }

    #[test]
    fn blocks_survive_one_zlib_stream_across_many_frames() {
        let mut compressor = HeaderCompressor::new();
        let mut decompressor = HeaderDecompressor::new();
        for i in 0..50 {
            let headers = Headers::new()
                .with("streamtype", "stdout")
                .with("requestid", i.to_string())
                .with("big", "x".repeat(i * 100));
            let mut frame = Vec::new();
            compressor.compress(&headers, &mut frame).expect("compress");
            // zlib header with FDICT on the first block only.
            if i == 0 {
                assert_eq!(frame[0] & 0x0f, 8);
                assert_ne!(frame[1] & 0x20, 0);
            }
            assert_eq!(decompressor.decompress(&frame).expect("inflate"), headers);
        }
    }

    /// Compressed by C zlib (Python's `zlib.compressobj(9, zdict=dictionary)`,
    /// `Z_SYNC_FLUSH` after each block), as a peer other than ourselves would.
    #[test]
    fn blocks_compressed_by_c_zlib_inflate() {
        let first = hex("78f9e3c6a7c202e50e703a2b294a4dcc851625aca9a0800632388b20d196094ace8c0600000000ffff");
        let second = hex("c2aa1898bc53f2c1a5369a6a00000000ffff");
        let mut decompressor = HeaderDecompressor::new();
        assert_eq!(
            decompressor.decompress(&first).expect("first block"),
            Headers::new().with("streamtype", "error").with("requestid", "0")
        );
        assert_eq!(
            decompressor.decompress(&second).expect("second block"),
            Headers::new().with("streamtype", "stdout").with("requestid", "0")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0)).collect()
    }
}
