//! Photos without what they tell of the person who took them (SECURITY F6). A phone's JPEG
//! carries EXIF — where it was taken (GPS), when, the camera's serial number — and often XMP,
//! IPTC and comments; a PNG can carry text chunks and EXIF too. Before anyone else can download
//! an image, those are taken out. The picture itself is left byte for byte as it was: the
//! compressed image data is copied, not decoded. Only a JPEG's orientation is kept (in a new,
//! minimal EXIF block of that one tag), so a photo taken sideways still shows upright.

/// The image without its metadata, or `None` when it is not a well-formed JPEG or PNG (the
/// upload is then refused as not the type it claims).
pub fn strip(content_type: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match content_type {
        "image/jpeg" => strip_jpeg(bytes),
        "image/png" => strip_png(bytes),
        _ => Some(bytes.to_vec()),
    }
}

/// JPEG: every APP segment but JFIF (APP0), ICC colour profiles (APP2) and Adobe's colour
/// transform (APP14), and every comment, are dropped up to the start of the scan; the scan and
/// what follows are copied unchanged.
fn strip_jpeg(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = vec![0xFF, 0xD8];
    let mut orientation = None;
    let mut i = 2;
    loop {
        // Fill bytes before a marker.
        while bytes.get(i) == Some(&0xFF) && bytes.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if bytes.get(i) != Some(&0xFF) {
            return None;
        }
        let marker = *bytes.get(i + 1)?;
        if marker == 0xD9 {
            out.extend_from_slice(&bytes[i..i + 2]);
            return Some(with_orientation(out, orientation));
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            out.extend_from_slice(&bytes[i..i + 2]);
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
        if len < 2 {
            return None;
        }
        let end = i + 2 + len;
        let segment = bytes.get(i..end)?;
        let payload = &segment[4..];
        let keep = match marker {
            0xE0 | 0xE2 | 0xEE => true,
            0xE1 => {
                if let Some(rest) = payload.strip_prefix(b"Exif\0\0") {
                    orientation = orientation.or_else(|| exif_orientation(rest));
                }
                false
            }
            0xE3..=0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(segment);
        }
        if marker == 0xDA {
            // The scan: everything from here on is image data, copied as it is.
            out.extend_from_slice(&bytes[end..]);
            return Some(with_orientation(out, orientation));
        }
        i = end;
    }
}

/// Puts a minimal EXIF block holding only the orientation right after the SOI marker (and after
/// JFIF's APP0, where readers look for it).
fn with_orientation(mut jpeg: Vec<u8>, orientation: Option<u16>) -> Vec<u8> {
    let Some(o) = orientation.filter(|o| (2..=8).contains(o)) else {
        return jpeg;
    };
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut app1 = vec![0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    app1.extend_from_slice(&len.to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let at = if jpeg.get(2..4) == Some(&[0xFF, 0xE0]) {
        let l = usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
        4 + l
    } else {
        2
    };
    jpeg.splice(at..at, app1);
    jpeg
}

/// The orientation tag (0x0112) of an EXIF block's first directory, if it has one.
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let big = match tiff.get(0..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = [*tiff.get(at)?, *tiff.get(at + 1)?];
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = [
            *tiff.get(at)?,
            *tiff.get(at + 1)?,
            *tiff.get(at + 2)?,
            *tiff.get(at + 3)?,
        ];
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries.min(512)).find_map(|k| {
        let at = ifd + 2 + k * 12;
        (u16_at(at)? == 0x0112 && u16_at(at + 2)? == 3).then(|| u16_at(at + 8))?
    })
}

/// PNG: the text chunks (tEXt, zTXt, iTXt), EXIF (eXIf) and the time stamp (tIME) are dropped;
/// every other chunk is copied with its checksum. A chunk cut short ends the file: nothing of it
/// is kept.
fn strip_png(bytes: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut rest = bytes.strip_prefix(SIGNATURE)?;
    let mut out = SIGNATURE.to_vec();
    while !rest.is_empty() {
        let Some(chunk) = rest
            .get(0..4)
            .and_then(|l| <[u8; 4]>::try_from(l).ok())
            .and_then(|l| usize::try_from(u32::from_be_bytes(l)).ok())
            .and_then(|len| rest.get(..len.checked_add(12)?))
        else {
            break;
        };
        let len = chunk.len() - 12;
        let kind = &chunk[4..8];
        if !matches!(kind, b"tEXt" | b"zTXt" | b"iTXt" | b"eXIf" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        rest = &rest[12 + len..];
        if kind == b"IEND" {
            break;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG as a phone writes it: JFIF, EXIF with GPS and a serial, XMP, a comment, the scan.
    pub fn phone_jpeg(orientation: u16) -> Vec<u8> {
        let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&2u16.to_le_bytes());
        // Orientation, then the GPS directory's pointer (its content need not be real here).
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0x8825u16.to_le_bytes());
        tiff.extend_from_slice(&4u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&38u32.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"GPS 35.6812N 139.7671E SERIAL-A1B2C3");
        let segment = |marker: u8, payload: &[u8]| {
            let mut s = vec![0xFF, marker];
            s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
            s.extend_from_slice(payload);
            s
        };
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        jpeg.extend(segment(0xE1, &[b"Exif\0\0".as_slice(), &tiff].concat()));
        jpeg.extend(segment(
            0xE1,
            b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Tokyo</x:xmpmeta>",
        ));
        jpeg.extend(segment(0xFE, b"taken at home"));
        jpeg.extend(segment(0xDB, &[0u8; 65]));
        jpeg.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        jpeg.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]);
        jpeg
    }

    #[test]
    fn a_phone_photo_loses_its_place_serial_and_comments_but_keeps_its_orientation() {
        // SECURITY F6
        let jpeg = phone_jpeg(6);
        let clean = strip("image/jpeg", &jpeg).expect("jpeg");
        let text = String::from_utf8_lossy(&clean);
        for gone in ["GPS", "SERIAL", "xmpmeta", "Tokyo", "taken at home"] {
            assert!(!text.contains(gone), "{gone}");
        }
        assert!(clean.ends_with(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]));
        let exif = clean
            .windows(6)
            .position(|w| w == b"Exif\0\0")
            .expect("orientation kept");
        assert_eq!(exif_orientation(&clean[exif + 6..]), Some(6));
        // An upright photo needs no EXIF at all.
        let upright = strip("image/jpeg", &phone_jpeg(1)).expect("jpeg");
        assert!(!upright.windows(4).any(|w| w == b"Exif"));
        // Stripping twice changes nothing more.
        assert_eq!(strip("image/jpeg", &clean).expect("again"), clean);
    }

    #[test]
    fn a_png_loses_its_text_and_exif_chunks() {
        // SECURITY F6
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0, 0, 0, 0]);
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
        png.extend(chunk(b"tEXt", b"Author\0Sato Hanako"));
        png.extend(chunk(b"eXIf", b"MM\0\x2aGPS"));
        png.extend(chunk(b"IDAT", &[1, 2, 3]));
        png.extend(chunk(b"IEND", &[]));
        let clean = strip("image/png", &png).expect("png");
        let text = String::from_utf8_lossy(&clean);
        assert!(!text.contains("Sato") && !text.contains("GPS"));
        assert!(text.contains("IHDR") && text.contains("IDAT") && text.contains("IEND"));
        // A chunk cut short is not kept; what is not a PNG at all is refused.
        assert_eq!(
            strip("image/png", b"\x89PNG\r\n\x1a\n\0\0\0\x10IHDRtEXtAuthor"),
            Some(b"\x89PNG\r\n\x1a\n".to_vec())
        );
        assert_eq!(strip("image/png", b"GIF89a"), None);
    }
}
