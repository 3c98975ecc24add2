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

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::protocol::ExecuteResponse;
    use tokio::net::UnixStream;

    async fn read_after(bytes: &[u8]) -> Result<ExecuteResponse, FrameError> {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(bytes).await.unwrap();
        drop(a);
        read_frame(&mut b).await
    }

    #[tokio::test]
    async fn bad_frames_from_a_worker_are_typed_errors() {
        assert!(matches!(read_after(&[]).await, Err(FrameError::Closed)));
        assert!(matches!(
            read_after(&[1, 2]).await,
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        ));
        let mut short = 50u32.to_le_bytes().to_vec();
        short.extend_from_slice(&[0; 7]);
        assert!(matches!(
            read_after(&short).await,
            Err(FrameError::Truncated {
                expected: 50,
                got: 7
            })
        ));
        assert!(matches!(
            read_after(&u32::MAX.to_le_bytes()).await,
            Err(FrameError::TooLong { .. })
        ));
        let mut garbage = 3u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xee; 3]);
        assert!(matches!(
            read_after(&garbage).await,
            Err(FrameError::Decode(_))
        ));
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let sent = ExecuteResponse::TimedOut { cpu_time_ns: 42 };
        write_frame(&mut a, &sent).await.unwrap();
        assert_eq!(
            read_frame::<_, ExecuteResponse>(&mut b).await.unwrap(),
            sent
        );
    }
}
