//! Framing of the host ↔ worker socket.
//!
//! A frame is a 4-byte little-endian payload length followed by that many bytes of SCALE.
//! Unlike the reference (a platform `usize` prefix and no limit), the prefix has a fixed
//! width and the length is checked against [`MAX_FRAME_LEN`] *before* anything is
//! allocated, so a hostile or broken peer can neither crash the reader nor make it
//! allocate gigabytes. Every way a frame can be wrong is a [`FrameError`] variant.

use parity_scale_codec::{Decode, DecodeLimit, Encode};
use std::io::{self, Read, Write};

/// Width of the length prefix in bytes.
pub const HEADER_LEN: usize = 4;
/// Largest payload accepted on the wire: room for the largest code blob or PoV plus slack.
pub const MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;
/// Nesting limit handed to the SCALE decoder.
const DECODE_DEPTH_LIMIT: u32 = 32;

/// Everything that can go wrong when reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection cleanly between frames.
    #[error("connection closed by peer")]
    Closed,
    /// The connection ended inside a frame.
    #[error("truncated frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the frame announced (header or payload).
        expected: usize,
        /// Bytes that arrived.
        got: usize,
    },
    /// The announced length exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// The announced or attempted length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The payload is not a valid encoding of the expected message.
    #[error("malformed frame payload: {0}")]
    Decode(String),
    /// An I/O error on the socket.
    #[error("socket I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Encodes `msg` as a frame (header + payload).
pub fn encode_frame<T: Encode>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let len = msg.encoded_size();
    if len > MAX_FRAME_LEN as usize {
        return Err(FrameError::TooLong {
            len: len as u64,
            max: MAX_FRAME_LEN,
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    msg.encode_to(&mut out);
    Ok(out)
}

/// Parses a frame header, checking the announced length against the limit.
pub fn decode_header(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(header);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong {
            len: len as u64,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len as usize)
}

/// Decodes a complete payload; trailing bytes are an error.
pub fn decode_payload<T: Decode>(payload: &[u8]) -> Result<T, FrameError> {
    T::decode_all_with_depth_limit(DECODE_DEPTH_LIMIT, &mut &payload[..])
        .map_err(|e| FrameError::Decode(e.to_string()))
}

/// Writes one frame.
pub fn write_frame<W: Write, T: Encode>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode_frame(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads as many bytes as arrive into `buf`, stopping early only at end of stream.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads one frame's raw payload.
pub fn read_frame_bytes<R: Read>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match read_full(r, &mut header)? {
        0 => return Err(FrameError::Closed),
        HEADER_LEN => {}
        got => {
            return Err(FrameError::Truncated {
                expected: HEADER_LEN,
                got,
            });
        }
    }
    let len = decode_header(header)?;
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload)?;
    if got != len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(payload)
}

/// Reads and decodes one frame.
pub fn read_frame<R: Read, T: Decode>(r: &mut R) -> Result<T, FrameError> {
    decode_payload(&read_frame_bytes(r)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let frame = encode_frame(&(7u32, vec![1u8, 2, 3])).unwrap();
        assert_eq!(&frame[..4], &8u32.to_le_bytes());
        let back: (u32, Vec<u8>) = read_frame(&mut &frame[..]).unwrap();
        assert_eq!(back, (7, vec![1, 2, 3]));
    }

    #[test]
    fn empty_stream_is_closed() {
        assert!(matches!(
            read_frame::<_, u32>(&mut &[][..]),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn truncated_header_and_payload() {
        assert!(matches!(
            read_frame::<_, u32>(&mut &[1u8, 0][..]),
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        ));
        let frame = encode_frame(&vec![9u8; 100]).unwrap();
        assert!(matches!(
            read_frame::<_, Vec<u8>>(&mut &frame[..50][..]),
            Err(FrameError::Truncated { got: 46, .. })
        ));
    }

    #[test]
    fn over_long_header_is_rejected_before_allocating() {
        let header = u32::MAX.to_le_bytes();
        assert!(matches!(
            read_frame::<_, u32>(&mut &header[..]),
            Err(FrameError::TooLong { len, .. }) if len == u32::MAX as u64
        ));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut frame = encode_frame(&1u32).unwrap();
        frame[0] = 5;
        frame.push(0);
        assert!(matches!(
            read_frame::<_, u32>(&mut &frame[..]),
            Err(FrameError::Decode(_))
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_frame::<_, crate::protocol::ExecuteResponse>(&mut &bytes[..]);
            let _ = read_frame::<_, crate::protocol::PrepareResponse>(&mut &bytes[..]);
            let _ = read_frame::<_, crate::protocol::ExecuteRequest>(&mut &bytes[..]);
        }
    }
}
