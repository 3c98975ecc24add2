//! Async framing over the worker socket, on top of [`pvf_messages::frame`].
//!
//! The same length prefix and size cap as the workers' blocking reader, so an over-long or
//! truncated frame from a worker is a typed [`FrameError`], never a large allocation.

use parity_scale_codec::{Decode, Encode};
use pvf_messages::frame::{self, FrameError, HEADER_LEN};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Encode>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    w.write_all(&frame::encode_frame(msg)?).await?;
    w.flush().await?;
    Ok(())
}

async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]).await? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Reads one frame and decodes its payload as `T`.
pub async fn read_frame<R: AsyncRead + Unpin, T: Decode>(r: &mut R) -> Result<T, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match read_full(r, &mut header).await? {
        0 => return Err(FrameError::Closed),
        HEADER_LEN => {}
        got => {
            return Err(FrameError::Truncated {
                expected: HEADER_LEN,
                got,
            });
        }
    }
    let len = frame::decode_header(header)?;
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload).await?;
    if got != len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    frame::decode_payload(&payload)
}
