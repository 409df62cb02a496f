//! SPDY/3.1 frames (draft 3.1, section 2.2/2.6) and their wire encoding.
//!
//! Control frames start with the control bit, version 3 and a 16-bit type,
//! then 8 bits of flags and a 24-bit payload length; data frames start with a
//! 31-bit stream id, then flags and length the same way. All integers are
//! big-endian.

use bytes::{Buf, Bytes, BytesMut};

use super::headers::{HeaderCompressor, HeaderDecompressor, HeaderError, Headers};

/// The protocol version in every control frame.
pub const VERSION: u16 = 3;
/// The largest payload a frame can carry (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

/// FIN: the sender's last frame on this stream.
pub const FLAG_FIN: u8 = 0x01;
/// UNIDIRECTIONAL on SYN_STREAM: the receiver may not send on this stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// CLEAR_SETTINGS on SETTINGS.
pub const FLAG_CLEAR_SETTINGS: u8 = 0x01;

/// The SETTINGS id of the initial per-stream window size.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes (section 2.6.3).
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const UNSUPPORTED_VERSION: u32 = 4;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
    pub const STREAM_ALREADY_CLOSED: u32 = 9;
}

/// GOAWAY status codes (section 2.6.6).
pub mod goaway {
    pub const OK: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INTERNAL_ERROR: u32 = 2;
}

/// Errors of reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("control frame of SPDY version {0}, only 3 is spoken")]
    UnsupportedVersion(u16),
    #[error("{kind} frame with a payload of {len} bytes")]
    BadLength { kind: &'static str, len: usize },
    #[error("{0} frame for stream 0")]
    ZeroStreamId(&'static str),
    #[error("frame payload of {0} bytes is over the 24-bit limit")]
    TooLarge(usize),
    #[error(transparent)]
    HeaderBlock(#[from] HeaderError),
}

type Result<T, E = FrameError> = std::result::Result<T, E>;

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

/// A SPDY/3.1 frame (CREDENTIAL is not used by Kubernetes and skipped on read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream { stream_id: u32, associated_to: u32, priority: u8, flags: u8, headers: Headers },
    SynReply { stream_id: u32, fin: bool, headers: Headers },
    RstStream { stream_id: u32, status: u32 },
    Settings { flags: u8, settings: Vec<Setting> },
    Ping { id: u32 },
    GoAway { last_good_stream_id: u32, status: u32 },
    Headers { stream_id: u32, fin: bool, headers: Headers },
    WindowUpdate { stream_id: u32, delta: u32 },
    Data { stream_id: u32, fin: bool, data: Bytes },
}

impl Frame {
    /// Appends the frame's wire form to `out`, compressing header blocks with
    /// the connection's sending zlib stream.
    pub fn encode(&self, zlib: &mut HeaderCompressor, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Frame::Data { stream_id, fin, data } => {
                if *stream_id == 0 {
                    return Err(FrameError::ZeroStreamId("DATA"));
                }
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                put_flags_len(out, u8::from(*fin) * FLAG_FIN, data.len())?;
                out.extend_from_slice(data);
            }
            Frame::SynStream { stream_id, associated_to, priority, flags, headers } => {
                let mut payload = Vec::new();
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
                payload.push((priority & 0x07) << 5);
                payload.push(0); // credential slot
                zlib.compress(headers, &mut payload)?;
                control(out, TYPE_SYN_STREAM, *flags, &payload)?;
            }
            Frame::SynReply { stream_id, fin, headers } => {
                let mut payload = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                zlib.compress(headers, &mut payload)?;
                control(out, TYPE_SYN_REPLY, u8::from(*fin) * FLAG_FIN, &payload)?;
            }
            Frame::Headers { stream_id, fin, headers } => {
                let mut payload = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                zlib.compress(headers, &mut payload)?;
                control(out, TYPE_HEADERS, u8::from(*fin) * FLAG_FIN, &payload)?;
            }
            Frame::RstStream { stream_id, status } => {
                control(out, TYPE_RST_STREAM, 0, &two_words(stream_id & 0x7fff_ffff, *status))?;
            }
            Frame::Settings { flags, settings } => {
                let mut payload = (settings.len() as u32).to_be_bytes().to_vec();
                for s in settings {
                    payload.extend_from_slice(&((u32::from(s.flags) << 24) | (s.id & 0xff_ffff)).to_be_bytes());
                    payload.extend_from_slice(&s.value.to_be_bytes());
                }
                control(out, TYPE_SETTINGS, *flags, &payload)?;
            }
            Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes())?,
            Frame::GoAway { last_good_stream_id, status } => {
                control(out, TYPE_GOAWAY, 0, &two_words(last_good_stream_id & 0x7fff_ffff, *status))?;
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control(out, TYPE_WINDOW_UPDATE, 0, &two_words(stream_id & 0x7fff_ffff, delta & 0x7fff_ffff))?;
            }
        }
        Ok(())
    }

    /// Takes one whole frame off the front of `buf`; `None` while `buf` holds
    /// less than a frame. Control frames of unknown types are skipped.
    pub fn decode(buf: &mut BytesMut, zlib: &mut HeaderDecompressor) -> Result<Option<Frame>> {
        loop {
            if buf.len() < 8 {
                return Ok(None);
            }
            let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let flags = buf[4];
            let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
            if buf.len() < 8 + len {
                buf.reserve(8 + len - buf.len());
                return Ok(None);
            }
            buf.advance(8);
            let payload = buf.split_to(len).freeze();
            if first & 0x8000_0000 == 0 {
                let stream_id = first & 0x7fff_ffff;
                if stream_id == 0 {
                    return Err(FrameError::ZeroStreamId("DATA"));
                }
                return Ok(Some(Frame::Data { stream_id, fin: flags & FLAG_FIN != 0, data: payload }));
            }
            let version = ((first >> 16) & 0x7fff) as u16;
            if version != VERSION {
                return Err(FrameError::UnsupportedVersion(version));
            }
            let kind = (first & 0xffff) as u16;
            if let Some(frame) = decode_control(kind, flags, &payload, zlib)? {
                return Ok(Some(frame));
            }
        }
    }
}

fn decode_control(kind: u16, flags: u8, p: &[u8], zlib: &mut HeaderDecompressor) -> Result<Option<Frame>> {
    let word = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let need = |name: &'static str, ok: bool| {
        if ok { Ok(()) } else { Err(FrameError::BadLength { kind: name, len: p.len() }) }
    };
    let fin = flags & FLAG_FIN != 0;
    let frame = match kind {
        TYPE_SYN_STREAM => {
            need("SYN_STREAM", p.len() >= 10)?;
            let stream_id = nonzero("SYN_STREAM", word(0) & 0x7fff_ffff)?;
            Frame::SynStream {
                stream_id,
                associated_to: word(4) & 0x7fff_ffff,
                priority: p[8] >> 5,
                flags,
                headers: zlib.decompress(&p[10..])?,
            }
        }
        TYPE_SYN_REPLY => {
            need("SYN_REPLY", p.len() >= 4)?;
            let stream_id = nonzero("SYN_REPLY", word(0) & 0x7fff_ffff)?;
            Frame::SynReply { stream_id, fin, headers: zlib.decompress(&p[4..])? }
        }
        TYPE_HEADERS => {
            need("HEADERS", p.len() >= 4)?;
            let stream_id = nonzero("HEADERS", word(0) & 0x7fff_ffff)?;
            Frame::Headers { stream_id, fin, headers: zlib.decompress(&p[4..])? }
        }
        TYPE_RST_STREAM => {
            need("RST_STREAM", p.len() == 8)?;
            Frame::RstStream { stream_id: nonzero("RST_STREAM", word(0) & 0x7fff_ffff)?, status: word(4) }
        }
        TYPE_SETTINGS => {
            need("SETTINGS", p.len() >= 4)?;
            let count = word(0) as usize;
            need("SETTINGS", p.len() == 4 + count.saturating_mul(8))?;
            let settings = (0..count)
                .map(|i| {
                    let at = 4 + i * 8;
                    Setting { flags: p[at], id: word(at) & 0xff_ffff, value: word(at + 4) }
                })
                .collect();
            Frame::Settings { flags, settings }
        }
        TYPE_PING => {
            need("PING", p.len() == 4)?;
            Frame::Ping { id: word(0) }
        }
        TYPE_GOAWAY => {
            // SPDY/2 peers send only the stream id; accept both.
            need("GOAWAY", p.len() == 8 || p.len() == 4)?;
            let status = if p.len() == 8 { word(4) } else { goaway::OK };
            Frame::GoAway { last_good_stream_id: word(0) & 0x7fff_ffff, status }
        }
        TYPE_WINDOW_UPDATE => {
            need("WINDOW_UPDATE", p.len() == 8)?;
            Frame::WindowUpdate { stream_id: word(0) & 0x7fff_ffff, delta: word(4) & 0x7fff_ffff }
        }
        _ => return Ok(None),
    };
    Ok(Some(frame))
}

fn nonzero(kind: &'static str, id: u32) -> Result<u32> {
    if id == 0 { Err(FrameError::ZeroStreamId(kind)) } else { Ok(id) }
}

fn two_words(a: u32, b: u32) -> [u8; 8] {
    let mut out = [0; 8];
    out[..4].copy_from_slice(&a.to_be_bytes());
    out[4..].copy_from_slice(&b.to_be_bytes());
    out
}

fn put_flags_len(out: &mut Vec<u8>, flags: u8, len: usize) -> Result<()> {
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    out.push(flags);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    Ok(())
}

fn control(out: &mut Vec<u8>, kind: u16, flags: u8, payload: &[u8]) -> Result<()> {
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    put_flags_len(out, flags, payload.len())?;
    out.extend_from_slice(payload);
    Ok(())
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
