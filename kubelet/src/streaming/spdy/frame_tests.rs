use super::*;

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut HeaderCompressor::new(), &mut out).expect("encodes");
    out
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut zlib = HeaderDecompressor::new();
    let mut frames = Vec::new();
    while let Some(frame) = Frame::decode(&mut buf, &mut zlib).expect("decodes") {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frames
}

/// Frames without header blocks, with the bytes the SPDY/3.1 draft's layouts give.
#[test]
fn frames_encode_to_the_bytes_of_the_draft() {
    let cases: Vec<(Frame, Vec<u8>)> = vec![
        (
            Frame::Data { stream_id: 3, fin: false, data: Bytes::from_static(b"hi") },
            vec![0, 0, 0, 3, 0, 0, 0, 2, b'h', b'i'],
        ),
        (
            Frame::Data { stream_id: 0x7fff_fffe, fin: true, data: Bytes::new() },
            vec![0x7f, 0xff, 0xff, 0xfe, 1, 0, 0, 0],
        ),
        (
            Frame::RstStream { stream_id: 5, status: rst::CANCEL },
            vec![0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5],
        ),
        (
            Frame::Settings {
                flags: 0,
                settings: vec![Setting { flags: 0, id: SETTINGS_INITIAL_WINDOW_SIZE, value: 65536 }],
            },
            vec![0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 7, 0, 1, 0, 0],
        ),
        (
            Frame::Settings { flags: FLAG_CLEAR_SETTINGS, settings: vec![Setting { flags: 1, id: 4, value: 100 }] },
            vec![0x80, 3, 0, 4, 1, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 4, 0, 0, 0, 100],
        ),
        (Frame::Ping { id: 1 }, vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]),
        (
            Frame::GoAway { last_good_stream_id: 7, status: goaway::OK },
            vec![0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0],
        ),
        (
            Frame::WindowUpdate { stream_id: 1, delta: 0x8000 },
            vec![0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0x80, 0],
        ),
    ];
    for (frame, bytes) in cases {
        assert_eq!(encode(&frame), bytes, "{frame:?}");
        assert_eq!(decode_all(&bytes), vec![frame]);
    }
}

#[test]
fn syn_stream_carries_ids_priority_flags_and_a_compressed_block() {
    let headers = Headers::new().with("streamType", "stdin");
    let frame =
        Frame::SynStream { stream_id: 1, associated_to: 0, priority: 0, flags: FLAG_FIN, headers: headers.clone() };
    let bytes = encode(&frame);
    assert_eq!(&bytes[..4], &[0x80, 3, 0, 1]);
    assert_eq!(bytes[4], FLAG_FIN);
    let len = usize::from(bytes[5]) << 16 | usize::from(bytes[6]) << 8 | usize::from(bytes[7]);
    assert_eq!(len, bytes.len() - 8);
    assert_eq!(&bytes[8..18], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let inflated = HeaderDecompressor::new().decompress(&bytes[18..]).expect("block");
    assert_eq!(inflated, headers);
    assert_eq!(decode_all(&bytes), vec![frame]);

    let with_priority = Frame::SynStream { stream_id: 3, associated_to: 1, priority: 7, flags: 0, headers };
    let bytes = encode(&with_priority);
    assert_eq!(&bytes[8..18], &[0, 0, 0, 3, 0, 0, 0, 1, 0xe0, 0]);
    assert_eq!(decode_all(&bytes), vec![with_priority]);
}

#[test]
fn frames_with_header_blocks_round_trip_on_one_zlib_stream() {
    let frames = vec![
        Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: Headers::new().with("streamtype", "error"),
        },
        Frame::SynReply { stream_id: 1, fin: false, headers: Headers::new() },
        Frame::Headers { stream_id: 1, fin: true, headers: Headers::new().with("x", "y") },
        Frame::Data { stream_id: 1, fin: false, data: Bytes::from(vec![7; 70_000]) },
        Frame::SynStream {
            stream_id: 3,
            associated_to: 0,
            priority: 2,
            flags: FLAG_UNIDIRECTIONAL,
            headers: Headers::new().with("streamtype", "stdout"),
        },
    ];
    let mut zlib = HeaderCompressor::new();
    let mut wire = Vec::new();
    for frame in &frames {
        frame.encode(&mut zlib, &mut wire).expect("encodes");
    }
    assert_eq!(decode_all(&wire), frames);
}

#[test]
fn a_partial_frame_decodes_to_nothing_until_it_is_whole() {
    let bytes = encode(&Frame::Ping { id: 9 });
    let mut zlib = HeaderDecompressor::new();
    let mut buf = BytesMut::new();
    for byte in &bytes[..bytes.len() - 1] {
        buf.extend_from_slice(&[*byte]);
        assert_eq!(Frame::decode(&mut buf, &mut zlib).expect("no error"), None);
    }
    buf.extend_from_slice(&bytes[bytes.len() - 1..]);
    assert_eq!(Frame::decode(&mut buf, &mut zlib).expect("decodes"), Some(Frame::Ping { id: 9 }));
}

#[test]
fn unknown_control_frames_are_skipped() {
    // NOOP (type 5, removed in SPDY/3) then a PING.
    let mut bytes = vec![0x80, 3, 0, 5, 0, 0, 0, 0];
    bytes.extend(encode(&Frame::Ping { id: 2 }));
    assert_eq!(decode_all(&bytes), vec![Frame::Ping { id: 2 }]);
}

#[test]
fn other_versions_and_bad_lengths_are_errors() {
    let mut zlib = HeaderDecompressor::new();
    let mut v2 = BytesMut::from(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
    assert!(matches!(Frame::decode(&mut v2, &mut zlib), Err(FrameError::UnsupportedVersion(2))));
    let mut short_rst = BytesMut::from(&[0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1][..]);
    assert!(matches!(Frame::decode(&mut short_rst, &mut zlib), Err(FrameError::BadLength { .. })));
    let mut zero_data = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 0][..]);
    assert!(matches!(Frame::decode(&mut zero_data, &mut zlib), Err(FrameError::ZeroStreamId(_))));
}
