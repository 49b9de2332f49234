//! What an uploaded file is, told by its content, never by its name or declared type: the
//! formats a phone's camera makes (JPEG, PNG, HEIC photos; MP4 video).
//!
//! ```
//! use wangge_domain::incident::media::MediaType;
//!
//! let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
//! assert_eq!(MediaType::sniff(&jpeg), Some(MediaType::Jpeg));
//! assert_eq!(MediaType::sniff(b"GIF89a......"), None);
//! ```

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Jpeg,
    Png,
    Heic,
    Mp4,
}

/// ISO base media brands (the `ftyp` box) of HEIF images.
const HEIF_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
];
/// Brands of MP4 video as phones write it.
const MP4_BRANDS: &[&[u8; 4]] = &[
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash",
];

impl MediaType {
    /// The type of `bytes` (the start of a file is enough), or `None` for anything else.
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            return Some(Self::Png);
        }
        // An ISO base media file opens with a box: 4 bytes of size, then `ftyp` and the brand.
        if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
            let brand: &[u8] = &bytes[8..12];
            if HEIF_BRANDS.iter().any(|b| b.as_slice() == brand) {
                return Some(Self::Heic);
            }
            if MP4_BRANDS.iter().any(|b| b.as_slice() == brand) {
                return Some(Self::Mp4);
            }
        }
        None
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Heic => "heic",
            Self::Mp4 => "mp4",
        }
    }

    /// # Errors
    /// For a stored name that is none of the four.
    pub fn parse(s: &str) -> Result<Self, crate::unit::ValidationError> {
        [Self::Jpeg, Self::Png, Self::Heic, Self::Mp4]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                crate::unit::ValidationError::new(
                    "media_type",
                    format!("{s:?} is not jpeg, png, heic or mp4"),
                )
            })
    }

    /// The `Content-Type` to serve it with.
    #[must_use]
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Heic => "image/heic",
            Self::Mp4 => "video/mp4",
        }
    }

    /// A still photo (a result is reported back with one).
    #[must_use]
    pub fn is_photo(self) -> bool {
        !matches!(self, Self::Mp4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 24];
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(brand);
        v.extend_from_slice(&[0; 12]);
        v
    }

    #[test]
    fn content_decides_never_the_name() {
        assert_eq!(
            MediaType::sniff(&[0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0]),
            Some(MediaType::Png)
        );
        assert_eq!(MediaType::sniff(&ftyp(b"heic")), Some(MediaType::Heic));
        assert_eq!(MediaType::sniff(&ftyp(b"mif1")), Some(MediaType::Heic));
        assert_eq!(MediaType::sniff(&ftyp(b"isom")), Some(MediaType::Mp4));
        assert_eq!(
            MediaType::sniff(&ftyp(b"qt  ")),
            None,
            "QuickTime is not MP4"
        );
        assert_eq!(MediaType::sniff(b"%PDF-1.7"), None);
        assert_eq!(
            MediaType::sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(
            MediaType::sniff(&[0xFF, 0xD8]),
            None,
            "too short to be a JPEG"
        );
        assert_eq!(MediaType::sniff(&[]), None);
        assert!(MediaType::Heic.is_photo() && !MediaType::Mp4.is_photo());
        for m in [
            MediaType::Jpeg,
            MediaType::Png,
            MediaType::Heic,
            MediaType::Mp4,
        ] {
            assert_eq!(MediaType::parse(m.as_str()), Ok(m));
        }
    }
}
